import { describe, expect, it } from 'vitest';
import { applyRunEvent, countTasks, needsRefetch, statusAfter } from '../../src/web/lib/run-events.ts';
import type { RunEvent } from '../../src/web/lib/types.ts';
import { detail } from './fixtures.ts';

let seq = 0;
const ev = (kind: RunEvent['kind'], extra: Partial<RunEvent> = {}): RunEvent => ({ seq: ++seq, at: '2026-11-22T01:00:05.000Z', run: 'r-1', kind, ...extra });

describe('statusAfter', () => {
  it('maps every task event kind to the status it leaves the task in', () => {
    expect(Object.fromEntries(['task.checking', 'task.queued', 'task.started', 'task.retrying', 'task.succeeded',
      'task.failed', 'task.skipped', 'task.blocked', 'task.cancelled', 'worker.lost', 'run.finished'].map((k) => [k, statusAfter(k)]))).toEqual({
      'task.checking': 'checking', 'task.queued': 'queued', 'task.started': 'running', 'task.retrying': 'queued',
      'task.succeeded': 'succeeded', 'task.failed': 'failed', 'task.skipped': 'skipped', 'task.blocked': 'blocked',
      'task.cancelled': 'cancelled', 'worker.lost': undefined, 'run.finished': undefined,
    });
  });
});

describe('applyRunEvent', () => {
  it('moves the task and recounts the run', () => {
    const d = applyRunEvent(detail(), ev('task.queued', { task: 'fetch' }));
    expect(d.tasks[0]!.status).toBe('queued');
    expect(d.run.counts).toEqual({ queued: 1, waiting: 10 });
  });

  it('adds a provisional attempt when one starts and closes it when it ends', () => {
    let d = applyRunEvent(detail(), ev('task.started', { task: 'fetch', attempt: 1, worker: 'w-1', worker_name: 'wa-1-fetch' }));
    expect(d.tasks[0]!.attempts).toEqual([expect.objectContaining({ id: '', number: 1, worker: 'w-1', worker_name: 'wa-1-fetch', outcome: null })]);
    d = applyRunEvent(d, ev('task.retrying', { task: 'fetch', attempt: 1, message: 'exit code 3; retrying in 1m' }));
    expect(d.tasks[0]).toMatchObject({ status: 'queued', attempts: [{ outcome: 'failed', error: 'exit code 3; retrying in 1m' }] });
    d = applyRunEvent(d, ev('task.started', { task: 'fetch', attempt: 2 }));
    d = applyRunEvent(d, ev('task.succeeded', { task: 'fetch', attempt: 2 }));
    expect(d.tasks[0]!.attempts.map((a) => a.outcome)).toEqual(['failed', 'succeeded']);
  });

  it('ignores other runs, unknown tasks, non-task events and events the detail already reflects', () => {
    const d = detail();
    expect(applyRunEvent(d, { ...ev('task.queued', { task: 'fetch' }), run: 'r-2' })).toBe(d);
    expect(applyRunEvent(d, ev('task.queued', { task: 'nope' }))).toBe(d);
    expect(applyRunEvent(d, ev('worker.registered', { worker: 'w-1' }))).toBe(d);
    const seen = { ...d, last_seq: seq + 1 };
    expect(applyRunEvent(seen, ev('task.queued', { task: 'fetch' }))).toBe(seen);
  });

  it('marks the run running again when a task reopens after it ended (a rerun)', () => {
    const d = detail();
    d.run = { ...d.run, status: 'failed', finished_at: '2026-11-22T01:10:00.000Z' };
    const next = applyRunEvent(d, ev('task.queued', { task: 'fetch' }));
    expect(next.run).toMatchObject({ status: 'running', finished_at: null });
    const started = applyRunEvent(d, ev('run.started'));
    expect(started.run.status).toBe('running');
  });
});

describe('needsRefetch', () => {
  it('asks for the whole run when an event carries news the grid cannot hold', () => {
    expect(needsRefetch(ev('run.finished'))).toBe(true);
    expect(needsRefetch(ev('task.failed', { task: 'fetch' }))).toBe(true);
    expect(needsRefetch(ev('task.succeeded', { task: 'fetch' }))).toBe(false);
  });
});

describe('countTasks', () => {
  it('counts by status', () => {
    expect(countTasks(detail().tasks)).toEqual({ waiting: 11 });
  });
});
