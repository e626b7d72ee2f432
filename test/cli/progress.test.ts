import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RunEvent, RunEventKind } from '../../src/engine/events.ts';
import { createProgress, type Progress } from '../../src/cli/progress.ts';
import { visibleWidth } from '../../src/cli/format.ts';

/** A stream that keeps what is written, looking like a terminal or not. */
function fakeStream(tty: boolean, size: { columns?: number; rows?: number } = {}) {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return Object.assign(stream, { isTTY: tty, columns: size.columns ?? 100, rows: size.rows ?? 24, text: () => chunks.join('') });
}

/**
 * What a terminal shows after `text`: understands newlines, cursor-up and erase-line,
 * ignores colours. Anything else the progress writes would show up as garbage here.
 */
function screen(text: string): string[] {
  const lines = [''];
  let row = 0;
  for (const token of text.split(/(\x1b\[[0-9;]*[A-Za-z]|\n)/)) {
    if (token === '\n') lines[++row] ??= '';
    else if (token === '\x1b[1A') row = Math.max(0, row - 1);
    else if (token === '\x1b[2K') lines[row] = '';
    else if (!token.startsWith('\x1b[')) lines[row] += token;
  }
  while (lines.length > 0 && lines.at(-1) === '') lines.pop();
  return lines;
}

// Local time, so the expected `12:03:04` holds in any time zone.
const T0 = new Date(2026, 0, 2, 12, 3, 4).getTime();
const BUILD = 'build[version=1.0.0,config=debug]';
const TEST = 'test[version=1.0.0,config=debug]';

let seq = 0;
function ev(seconds: number, kind: RunEventKind, extra: Partial<RunEvent> = {}): RunEvent {
  return { seq: ++seq, at: new Date(T0 + seconds * 1000).toISOString(), run: 'r-abc', kind, ...extra };
}
const started = (seconds: number, task: string, attempt = 1) =>
  ev(seconds, 'task.started', { task, attempt, worker: 'w-3f2a', worker_name: `wa-${attempt}-${task}` });

function startInfo(keys: string[]) {
  return { run: 'r-abc', pipeline: 'packages', tasks: keys.map((key) => ({ key, status: 'waiting' as const })) };
}

describe('progress on a pipe', () => {
  function lines(events: RunEvent[], color = false): string[] {
    const out = fakeStream(false);
    const progress = createProgress(out, { color });
    progress.start({ ...startInfo([BUILD, TEST]), logsHint: 'logs: slipway logs r-abc TASK' });
    for (const e of events) progress.event(e);
    progress.stop();
    return out.text().split('\n').slice(0, -1);
  }

  it('writes one stable line per event kind', () => {
    expect(
      lines([
        ev(0, 'run.started'),
        ev(0, 'worker.starting', { worker: 'w-3f2a' }),
        ev(0, 'worker.registered', { worker: 'w-3f2a', worker_name: 'ww-0-builder' }),
        ev(0, 'task.checking', { task: BUILD }),
        ev(0, 'task.queued', { task: BUILD }),
        started(0, BUILD),
        ev(1, 'task.retrying', { task: BUILD, attempt: 1, message: 'exit code 3; retrying in 1.0s' }),
        started(2, BUILD, 2),
        ev(4.1, 'task.succeeded', { task: BUILD, attempt: 2 }),
        started(5, TEST),
        ev(6, 'task.failed', { task: TEST, attempt: 1, message: 'exit code 1' }),
        ev(6, 'task.blocked', { task: 'release', message: `needs ${TEST} which failed` }),
        ev(6, 'task.skipped', { task: 'docs', message: 'already done' }),
        ev(6, 'task.cancelled', { task: 'lint' }),
        ev(7, 'worker.lost', { worker: 'w-3f2a', worker_name: 'wa-2-test', message: 'no heartbeat for 30s' }),
        ev(7, 'worker.stopping', { worker: 'w-9', worker_name: 'ww-1-build' }),
        ev(8, 'worker.stopped', { worker: 'w-9' }),
        ev(8, 'run.finished', { message: 'failed' }),
      ]),
    ).toEqual([
      'run r-abc · pipeline packages · 2 tasks',
      'logs: slipway logs r-abc TASK',
      '12:03:04 started    run r-abc',
      '12:03:04 starting   worker w-3f2a',
      '12:03:04 registered worker ww-0-builder  (w-3f2a)',
      `12:03:04 checking   ${BUILD}`,
      `12:03:04 queued     ${BUILD}`,
      `12:03:04 started    ${BUILD}  attempt 1 on wa-1-${BUILD} (w-3f2a)`,
      `12:03:05 failed     ${BUILD}  attempt 1: exit code 3; retrying in 1.0s`,
      `12:03:06 started    ${BUILD}  attempt 2 on wa-2-${BUILD} (w-3f2a)`,
      `12:03:08 succeeded  ${BUILD}  in 2.1s on attempt 2`,
      `12:03:09 started    ${TEST}  attempt 1 on wa-1-${TEST} (w-3f2a)`,
      `12:03:10 failed     ${TEST}  attempt 1: exit code 1`,
      `12:03:10 blocked    release  (needs ${TEST} which failed)`,
      '12:03:10 skipped    docs  (already done)',
      '12:03:10 cancelled  lint',
      '12:03:11 lost       worker wa-2-test  (w-3f2a) (no heartbeat for 30s)',
      '12:03:11 stopping   worker ww-1-build  (w-9)',
      '12:03:12 stopped    worker w-9',
      '12:03:12 finished   run r-abc  (failed)',
    ]);
  });

  it('writes no escape codes without colour, and colours the verb with it', () => {
    const events = [started(0, BUILD), ev(1, 'task.failed', { task: BUILD, attempt: 1, message: 'exit code 3' })];
    expect(lines(events).join('\n')).not.toContain('\x1b');
    const coloured = lines(events, true);
    expect(coloured[3]).toContain('\x1b[');
    expect(screen(coloured[3] ?? '')).toEqual([`12:03:05 failed     ${BUILD}  attempt 1: exit code 3`]);
  });
});

describe('progress on a terminal', () => {
  let progress: Progress | undefined;
  afterEach(() => {
    progress?.stop();
    vi.useRealTimers();
  });

  function terminal(keys: string[], size: { columns?: number; rows?: number } = {}) {
    vi.useFakeTimers({ now: T0 });
    const out = fakeStream(true, size);
    progress = createProgress(out, { color: false, now: Date.now });
    progress.start({ ...startInfo(keys), logsHint: 'logs: slipway logs r-abc TASK' });
    return { out, progress };
  }

  it('counts tasks by status as events arrive', () => {
    const { out, progress } = terminal(['a', 'b', 'c', 'd', 'e']);
    expect(screen(out.text()).at(-1)).toMatch(/^r-abc packages 0ms ░+ 0\/5 done · 5 waiting$/);
    for (const e of [
      started(0, 'a'), ev(1, 'task.succeeded', { task: 'a' }),
      started(1, 'b'), ev(2, 'task.retrying', { task: 'b', attempt: 1, message: 'exit code 2; retrying in 1.0s' }),
      started(2, 'c'),
      started(2, 'd'), ev(3, 'task.failed', { task: 'd', attempt: 1, message: 'exit code 1' }),
      ev(3, 'task.blocked', { task: 'e' }),
    ]) progress.event(e);
    vi.advanceTimersByTime(4000);
    const shown = screen(out.text());
    expect(shown).toEqual([
      'run r-abc · pipeline packages · 5 tasks',
      'logs: slipway logs r-abc TASK',
      '12:03:06 failed     b  attempt 1: exit code 2; retrying in 1.0s',
      '12:03:07 failed     d  attempt 1: exit code 1',
      expect.stringMatching(/^r-abc packages 4\.0s █+░+ 3\/5 done · 1 running · 1 queued · 1 failed · 1 blocked$/),
      '    2.0s  c  wa-1-c',
    ]);
  });

  it('redraws in place, at most ten times a second, and stop() leaves only the permanent lines', () => {
    const { out, progress } = terminal([BUILD, TEST]);
    const writes = vi.spyOn(out, 'write');
    progress.event(started(0, BUILD));
    progress.event(started(0, TEST, 2));
    vi.advanceTimersByTime(100);
    const redraw = String(writes.mock.lastCall?.[0]);
    // The header alone was on screen: go up over it, erase it, draw three lines.
    expect(redraw.startsWith('\x1b[1A\x1b[2K')).toBe(true);
    expect(redraw.split('\x1b[1A\x1b[2K')).toHaveLength(2);
    expect(screen(out.text()).slice(2)).toEqual([
      expect.stringMatching(/^r-abc packages 100ms ░+ 0\/2 done · 2 running$/),
      `   100ms  ${BUILD}  wa-1-${BUILD}`,
      `   100ms  ${TEST}  attempt 2  wa-2-${TEST}`,
    ]);

    writes.mockClear();
    vi.advanceTimersByTime(1000);
    expect(writes.mock.calls.length).toBeLessThanOrEqual(10);

    progress.event(ev(1, 'task.failed', { task: TEST, attempt: 2, message: 'exit code 1' }));
    progress.event(ev(1.5, 'task.succeeded', { task: BUILD, attempt: 1 }));
    progress.stop();
    expect(vi.getTimerCount()).toBe(0);
    expect(screen(out.text())).toEqual([
      'run r-abc · pipeline packages · 2 tasks',
      'logs: slipway logs r-abc TASK',
      `12:03:05 failed     ${TEST}  attempt 2: exit code 1`,
    ]);
  });

  it('keeps the live view within the terminal width and height', () => {
    const keys = Array.from({ length: 30 }, (_, i) => `build[version=1.0.${i},config=debug,platform=linux-x86_64]`);
    const { out, progress } = terminal(keys, { columns: 50, rows: 10 });
    for (const key of keys) progress.event(started(0, key));
    vi.advanceTimersByTime(100);
    const live = screen(out.text()).slice(2);
    expect(live.length).toBeLessThanOrEqual(7);
    expect(live.at(-1)).toMatch(/^ {2}… \d+ more running$/);
    for (const line of live) expect(visibleWidth(line)).toBeLessThan(50);
  });

  it('falls back to 80x24 when the terminal does not tell its size', () => {
    const { out, progress } = terminal([BUILD], { columns: 0, rows: 0 });
    progress.event(started(0, BUILD));
    vi.advanceTimersByTime(100);
    const line = screen(out.text()).at(-1) ?? '';
    expect(line.startsWith(`   100ms  ${BUILD}  wa-1-build[`)).toBe(true);
    expect(line).toHaveLength(79);
    expect(line.endsWith('…')).toBe(true);
  });

  it('never keeps the process alive', () => {
    const intervals = vi.spyOn(globalThis, 'setInterval');
    const out = fakeStream(true);
    progress = createProgress(out, { color: true });
    progress.start(startInfo([BUILD]));
    const timer = intervals.mock.results[0]?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    intervals.mockRestore();
  });
});
