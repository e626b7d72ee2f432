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
 * What a terminal `width` x `height` shows after `text`, scrollback included: a small
 * emulator that wraps long lines, keeps the cursor's column, and understands newline
 * (as the tty driver sends it: CR LF), CR, cursor up and down, erase-in-line and
 * erase-below; colours are ignored. Any other escape the progress writes fails the test,
 * and so does erase-below at the screen's home, where tmux would push the screen into
 * the scrollback instead.
 */
function screen(text: string, width = 100, height = 24): string[] {
  const rows: string[][] = [[]];
  let row = 0;
  let col = 0;
  let top = 0; // first row on screen; cursor-up cannot go above it
  const line = () => (rows[row] ??= []);
  const down = () => {
    row++;
    line();
    if (row - top >= height) top = row - height + 1;
  };
  for (const token of text.split(/(\x1b\[[0-9;?]*[A-Za-z]|\n|\r)/)) {
    if (token === '') continue;
    if (token === '\n') {
      down();
      col = 0;
    } else if (token === '\r') col = 0;
    else if (token.startsWith('\x1b[')) {
      const [, arg, cmd] = token.match(/^\x1b\[([0-9;?]*)([A-Za-z])$/)!;
      const n = Number(arg || 0);
      if (cmd === 'm') continue;
      else if (cmd === 'A') {
        row = Math.max(top, row - Math.max(1, n));
        col = Math.min(col, width - 1);
      } else if (cmd === 'B') row = Math.min(top + height - 1, row + Math.max(1, n));
      else if (cmd === 'K' && n === 0) line().length = Math.min(col, width - 1);
      else if (cmd === 'K' && n === 2) line().length = 0;
      else if (cmd === 'J' && n === 0) {
        if (row === top && col === 0 && rows.length > 1) throw new Error('erase-below at the home position');
        line().length = Math.min(col, width - 1);
        rows.length = row + 1;
      } else throw new Error(`unexpected escape ${JSON.stringify(token)}`);
    } else {
      for (const ch of token) {
        if (ch < ' ') throw new Error(`unexpected control character ${JSON.stringify(ch)}`);
        if (col >= width) {
          down();
          col = 0;
        }
        const cells = line();
        while (cells.length < col) cells.push(' ');
        cells[col++] = ch;
      }
    }
  }
  const lines = Array.from(rows, (cells) => (cells ?? []).join('').trimEnd());
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

  it('writes the lines of events that come together in one write, and every line by the time it stops', async () => {
    const out = fakeStream(false);
    let writes = 0;
    const write = out.write.bind(out);
    out.write = ((...args: Parameters<typeof write>) => {
      writes += 1;
      return write(...args);
    }) as typeof out.write;
    const progress = createProgress(out, { color: false });
    progress.start(startInfo([BUILD, TEST]));
    writes = 0;
    for (const key of [BUILD, TEST]) progress.event(ev(0, 'task.queued', { task: key }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toBe(1);
    progress.event(started(1, BUILD));
    progress.stop();
    expect(out.text().split('\n').filter((line) => line.includes(BUILD))).toHaveLength(2);
  });

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

  it('writes lines, not a live view, to a terminal that cannot move the cursor', () => {
    const out = fakeStream(true);
    const progress = createProgress(out, { color: false, env: { TERM: 'dumb' } });
    progress.start(startInfo([BUILD]));
    progress.event(started(0, BUILD));
    progress.stop();
    expect(out.text()).not.toContain('\x1b');
    expect(out.text().split('\n')).toEqual([
      'run r-abc · pipeline packages · 1 task',
      `12:03:04 started    ${BUILD}  attempt 1 on wa-1-${BUILD} (w-3f2a)`,
      '',
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
    const shown = () => screen(out.text(), out.columns || 80, out.rows || 24);
    return { out, progress, shown };
  }

  it('counts tasks by status as events arrive, bad news first', () => {
    const { progress, shown } = terminal(['a', 'b', 'c', 'd', 'e']);
    expect(shown().at(-1)).toMatch(/^packages r-abc 0s ░+ 0\/5 done · 5 waiting$/);
    for (const e of [
      started(0, 'a'), ev(1, 'task.succeeded', { task: 'a' }),
      started(1, 'b'), ev(2, 'task.retrying', { task: 'b', attempt: 1, message: 'exit code 2; retrying in 1.0s' }),
      started(2, 'c'),
      started(2, 'd'), ev(3, 'task.failed', { task: 'd', attempt: 1, message: 'exit code 1' }),
      ev(3, 'task.blocked', { task: 'e' }),
    ]) progress.event(e);
    vi.advanceTimersByTime(4000);
    expect(shown()).toEqual([
      'run r-abc · pipeline packages · 5 tasks',
      'logs: slipway logs r-abc TASK',
      '12:03:06 failed     b  attempt 1: exit code 2; retrying in 1.0s',
      '12:03:07 failed     d  attempt 1: exit code 1',
      expect.stringMatching(/^packages r-abc 4s █+░+ 3\/5 done · 1 failed · 1 blocked · 1 running · 1 queued$/),
      '      2s  c  wa-1 (w-3f2a)',
      '     due  b  attempt 2 (retry)',
    ]);
  });

  it('redraws in place, at most ten times a second, and stop() leaves only the permanent lines', () => {
    const { out, progress, shown } = terminal([BUILD, TEST]);
    const writes = vi.spyOn(out, 'write');
    progress.event(started(0, BUILD));
    progress.event(started(0, TEST, 2));
    vi.advanceTimersByTime(100);
    const redraw = String(writes.mock.lastCall?.[0]);
    // The header alone was on screen: back to its start, then each line overwritten in
    // place and erased after its text; never a blank line or screen in between.
    expect(redraw.startsWith('\r\x1b[1A')).toBe(true);
    expect(redraw).not.toMatch(/\x1b\[2[JK]/);
    expect(shown().slice(2)).toEqual([
      expect.stringMatching(/^packages r-abc 0s ░+ 0\/2 done · 2 running$/),
      `      0s  ${BUILD}  wa-1 (w-3f2a)`,
      `      0s  ${TEST}  attempt 2  wa-2 (w-3f2a)`,
    ]);

    writes.mockClear();
    vi.advanceTimersByTime(1000);
    expect(writes.mock.calls.length).toBeLessThanOrEqual(10);

    progress.event(ev(1, 'task.failed', { task: TEST, attempt: 2, message: 'exit code 1' }));
    progress.event(ev(1.5, 'task.succeeded', { task: BUILD, attempt: 1 }));
    progress.stop();
    expect(vi.getTimerCount()).toBe(0);
    expect(shown()).toEqual([
      'run r-abc · pipeline packages · 2 tasks',
      'logs: slipway logs r-abc TASK',
      `12:03:05 failed     ${TEST}  attempt 2: exit code 1`,
    ]);
  });

  it('writes nothing while the view would not change, so elapsed times tick in whole seconds', () => {
    const { out, progress, shown } = terminal([BUILD]);
    progress.event(started(0, BUILD));
    vi.advanceTimersByTime(100);
    const writes = vi.spyOn(out, 'write');
    vi.advanceTimersByTime(800);
    expect(writes).not.toHaveBeenCalled();
    vi.advanceTimersByTime(100);
    expect(writes).toHaveBeenCalledTimes(1);
    expect(shown().at(-1)).toBe(`      1s  ${BUILD}  wa-1 (w-3f2a)`);
    vi.advanceTimersByTime(64_000);
    expect(shown().at(-1)).toBe(`   1m05s  ${BUILD}  wa-1 (w-3f2a)`);
  });

  it('puts permanent lines above the view however the view shrinks or grows', () => {
    const keys = ['a', 'b', 'c', 'd'];
    const { progress, shown } = terminal(keys);
    for (const key of keys) progress.event(started(0, key));
    vi.advanceTimersByTime(100);
    progress.event(ev(1, 'task.failed', { task: 'a', attempt: 1, message: 'exit code 1' }));
    progress.event(ev(1, 'task.succeeded', { task: 'b' }));
    progress.event(ev(1, 'task.succeeded', { task: 'c' }));
    vi.advanceTimersByTime(1000);
    expect(shown()).toEqual([
      'run r-abc · pipeline packages · 4 tasks',
      'logs: slipway logs r-abc TASK',
      '12:03:05 failed     a  attempt 1: exit code 1',
      expect.stringMatching(/^packages r-abc 1s █+░+ 3\/4 done · 1 failed · 1 running$/),
      '      1s  d  wa-1 (w-3f2a)',
    ]);
  });

  it('erases what the terminal echoes below the view, such as ^C', () => {
    const { out, progress, shown } = terminal([BUILD]);
    progress.event(started(0, BUILD));
    vi.advanceTimersByTime(100);
    out.write('^C'); // the tty echoes it at the cursor, on the line below the view
    vi.advanceTimersByTime(1000);
    expect(shown().slice(2)).toEqual([
      expect.stringMatching(/^packages r-abc 1s ░+ 0\/1 done · 1 running$/),
      `      1s  ${BUILD}  wa-1 (w-3f2a)`,
    ]);
    out.write('^C');
    progress.stop();
    expect(shown()).toEqual(['run r-abc · pipeline packages · 1 task', 'logs: slipway logs r-abc TASK']);
  });

  it('prints a notice above the view at once, and after stop() as plain text', () => {
    const { out, progress, shown } = terminal([BUILD]);
    progress.event(started(0, BUILD));
    vi.advanceTimersByTime(100);
    const writes = vi.spyOn(out, 'write');
    progress.print('cancelling: stopping running tasks and workers');
    expect(writes).toHaveBeenCalledTimes(1);
    expect(shown().slice(2)).toEqual([
      'cancelling: stopping running tasks and workers',
      expect.stringMatching(/^packages r-abc 0s ░+ 0\/1 done · 1 running$/),
      `      0s  ${BUILD}  wa-1 (w-3f2a)`,
    ]);
    progress.stop();
    progress.print('bye\n');
    expect(shown().slice(2)).toEqual(['cancelling: stopping running tasks and workers', 'bye']);
  });

  it('shows no event after stop(), which the summary follows', () => {
    const { progress, shown } = terminal([BUILD]);
    progress.stop();
    progress.event(ev(1, 'worker.lost', { worker: 'w-3f2a', message: 'agent exited' }));
    progress.event(ev(1, 'task.failed', { task: BUILD, attempt: 1, message: 'exit code 1' }));
    progress.stop();
    expect(shown()).toEqual(['run r-abc · pipeline packages · 1 task', 'logs: slipway logs r-abc TASK']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('keeps the live view within the terminal width and height', () => {
    const keys = Array.from({ length: 30 }, (_, i) => `build[version=1.0.${i},config=debug,platform=linux-x86_64]`);
    const { out, progress } = terminal(keys, { columns: 50, rows: 10 });
    for (const key of keys) progress.event(started(0, key));
    vi.advanceTimersByTime(100);
    const text = out.text();
    const live = screen(text, 50, 10).slice(2);
    expect(live.length).toBeLessThanOrEqual(7);
    expect(live.at(-1)).toMatch(/^ {2}… \d+ more running$/);
    for (const line of live) expect(visibleWidth(line)).toBeLessThan(50);
  });

  it('keeps the counts on a narrow terminal, leaving out the run, the pipeline, then the bar', () => {
    const keys = ['test[version=1.0.0]', 'b', 'c'];
    const { out, progress, shown } = terminal(keys, { columns: 72, rows: 15 });
    progress.event(started(0, 'test[version=1.0.0]'));
    progress.event(ev(0, 'task.failed', { task: 'b', attempt: 1, message: 'exit code 1' }));
    progress.event(ev(0, 'task.blocked', { task: 'c' }));
    vi.advanceTimersByTime(100);
    expect(shown().at(-2)).toMatch(/^packages 0s █+░+ 2\/3 done · 1 failed · 1 blocked · 1 running$/);
    out.columns = 60;
    vi.advanceTimersByTime(100);
    expect(screen(out.text(), 60, 15).at(-2)).toMatch(/^0s █+░+ 2\/3 done · 1 failed · 1 blocked · 1 running$/);
    out.columns = 40;
    vi.advanceTimersByTime(100);
    expect(screen(out.text(), 40, 15).slice(-2)).toEqual([
      '0s 2/3 done · 1 failed · 1 blocked · 1…',
      // Short of room, the worker goes by its name alone.
      '      0s  test[version=1.0.0]  wa-1',
    ]);
  });

  it('finds the top of its view again after the terminal got narrower and re-wrapped it', () => {
    const key = `build[version=1.0.0,config=debug,platform=${'x'.repeat(40)}]`;
    const { out, progress } = terminal([key], { columns: 100 });
    progress.event(started(0, key));
    vi.advanceTimersByTime(100);
    const widths = screen(out.text()).slice(2).map((l) => l.length);
    expect(widths[1]).toBeGreaterThan(80);
    const writes = vi.spyOn(out, 'write');
    out.columns = 40;
    vi.advanceTimersByTime(100);
    // Drawn 53 and 99 wide, the header now takes two rows and the running line three.
    expect(String(writes.mock.lastCall?.[0])).toMatch(/^\r\x1b\[5A/);
  });

  it('erases each line before writing it in the first frame after a resize, and never erases below from the top', () => {
    const { out, progress } = terminal([BUILD], { columns: 100 });
    progress.event(started(0, BUILD));
    vi.advanceTimersByTime(100);
    const writes = vi.spyOn(out, 'write');
    out.columns = 90;
    vi.advanceTimersByTime(100);
    // Same text, but tmux would glue re-wrapped rows together again without this.
    expect(String(writes.mock.lastCall?.[0])).toMatch(/^\r\x1b\[2A\x1b\[2K[^\x1b]+\n\x1b\[2K[^\n]+\n\x1b\[J$/);
    vi.advanceTimersByTime(1000);
    expect(String(writes.mock.lastCall?.[0])).not.toContain('\x1b[2K');
    writes.mockClear();
    progress.stop();
    const erase = String(writes.mock.lastCall?.[0]);
    expect(erase).not.toContain('\x1b[J');
    expect(screen(out.text(), 90)).toEqual(['run r-abc · pipeline packages · 1 task', 'logs: slipway logs r-abc TASK']);
  });

  it('leaves nothing of a wider view beside a permanent line that wraps', () => {
    const keys = Array.from({ length: 3 }, (_, i) => `build[version=1.0.${i},config=${'x'.repeat(60)}]`);
    const { progress, shown } = terminal(keys, { columns: 100 });
    for (const key of keys) progress.event(started(0, key));
    vi.advanceTimersByTime(100);
    // 150 columns: two rows; then one exactly 100 wide, which must keep its last character.
    progress.event(ev(1, 'task.failed', { task: keys[0]!, attempt: 1, message: `exit code 1: ${'y'.repeat(16)}` }));
    progress.print(`${'z'.repeat(99)}!`);
    progress.event(ev(1, 'task.succeeded', { task: keys[1]! }));
    progress.event(ev(1, 'task.succeeded', { task: keys[2]! }));
    vi.advanceTimersByTime(100);
    const failed = `12:03:05 failed     ${keys[0]}  attempt 1: exit code 1: ${'y'.repeat(16)}`;
    expect(failed).toHaveLength(150);
    expect(shown().slice(2)).toEqual([
      failed.slice(0, 100),
      failed.slice(100),
      `${'z'.repeat(99)}!`,
      expect.stringMatching(/^packages r-abc 0s █+ 3\/3 done · 1 failed$/),
    ]);
  });

  it('falls back to 80x24 when the terminal does not tell its size', () => {
    const { progress, shown } = terminal([BUILD], { columns: 0, rows: 0 });
    const long = `${BUILD}-with-a-much-longer-name-than-usual`;
    progress.event(started(0, long));
    vi.advanceTimersByTime(100);
    const line = shown().at(-1) ?? '';
    expect(line.startsWith(`      0s  ${long.slice(0, 60)}`)).toBe(true);
    expect(line).toHaveLength(79);
    expect(line.endsWith('…')).toBe(true);
  });

  it('stops the clock when the run finishes and tells which workers the summary waits for', () => {
    const { progress, shown } = terminal([BUILD]);
    progress.event(ev(0, 'worker.starting', { worker: 'w-1' }));
    progress.event(ev(0, 'worker.starting', { worker: 'w-2' }));
    progress.event(ev(0, 'worker.registered', { worker: 'w-1', worker_name: 'ww-0-builder' }));
    progress.event(started(0, BUILD));
    vi.advanceTimersByTime(2000);
    expect(shown().at(-1)).toBe(`      2s  ${BUILD}  wa-1 (w-3f2a)`);
    progress.event(ev(2, 'task.cancelled', { task: BUILD }));
    progress.event(ev(2, 'run.finished', { message: 'cancelled' }));
    progress.event(ev(2, 'worker.stopping', { worker: 'w-1', worker_name: 'ww-1-build' }));
    vi.advanceTimersByTime(5000);
    expect(shown().slice(2)).toEqual([
      expect.stringMatching(/^packages r-abc 2s █+ 1\/1 done · 1 cancelled$/),
      '  waiting for 2 workers to stop: w-1, w-2',
    ]);
    progress.event(ev(3, 'worker.stopped', { worker: 'w-1' }));
    progress.event(ev(3, 'worker.lost', { worker: 'w-2', message: 'never registered' }));
    vi.advanceTimersByTime(100);
    expect(shown().slice(2)).toEqual([
      '12:03:07 lost       worker w-2  (never registered)',
      expect.stringMatching(/^packages r-abc 2s █+ 1\/1 done · 1 cancelled$/),
    ]);
  });

  it('counts down to a retry, which can be minutes away, until the next attempt starts', () => {
    const { progress, shown } = terminal([BUILD, TEST]);
    progress.event(started(0, BUILD));
    progress.event(started(0, TEST));
    progress.event(ev(1, 'task.retrying', { task: TEST, attempt: 1, message: 'exit code 3; retrying in 1m00s' }));
    vi.advanceTimersByTime(1500);
    expect(shown().slice(-2)).toEqual([`      1s  ${BUILD}  wa-1 (w-3f2a)`, `in 1m00s  ${TEST}  attempt 2 (retry)`]);
    vi.advanceTimersByTime(1000);
    expect(shown().at(-1)).toBe(`  in 59s  ${TEST}  attempt 2 (retry)`);
    progress.event(ev(61, 'task.queued', { task: TEST }));
    vi.advanceTimersByTime(59_000);
    expect(shown().at(-1)).toBe(`     due  ${TEST}  attempt 2 (retry)`);
    progress.event(started(62, TEST, 2));
    vi.advanceTimersByTime(100);
    expect(shown().at(-1)).toBe(`      0s  ${TEST}  attempt 2  wa-2 (w-3f2a)`);
  });

  it('shows control characters in a message or a matrix value escaped, one line per event', () => {
    const key = 'build[version=1.0\r\x1b[2J]';
    const { progress, shown } = terminal([key]);
    progress.event(started(0, key));
    progress.event(ev(1, 'task.failed', { task: key, attempt: 1, message: 'boom\r\x1b[1A\tx\ny' }));
    progress.event(started(1, 'other'));
    vi.advanceTimersByTime(100);
    expect(shown()[2]).toBe('12:03:05 failed     build[version=1.0\\r\\x1b[2J]  attempt 1: boom\\r\\x1b[1A\\tx\\ny');
  });

  it('says a retry is one even without a message', () => {
    const { progress, shown } = terminal([BUILD]);
    progress.event(ev(1, 'task.retrying', { task: BUILD, attempt: 1 }));
    vi.advanceTimersByTime(100);
    expect(shown()[2]).toBe(`12:03:05 failed     ${BUILD}  attempt 1: retrying`);
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
