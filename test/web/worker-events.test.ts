import { describe, expect, it } from 'vitest';
import { applyWorkerEvent, isLive, touchesWorkers, workerStateAfter } from '../../src/web/lib/worker-events.ts';
import type { RunEvent, Worker } from '../../src/web/lib/types.ts';

const ev = (kind: RunEvent['kind'], extra: Partial<RunEvent> = {}): RunEvent => ({ seq: 1, at: '2026-11-22T01:00:05.000Z', run: 'r-1', kind, ...extra });
const w: Worker = {
  id: 'w-1', name: 'ww-0-builder', run: 'r-1', activity: 'builder', pool: 'p-1', provider: 'local', state: 'idle',
  tasks_done: 0, machine: 'pid 4242', current: null, hourly_usd: null, cost_usd: null,
  started_at: '2026-11-22T01:00:00.000Z', stopped_at: null, stop_reason: null,
};

describe('worker events', () => {
  it('maps worker and task events to worker states', () => {
    expect(['worker.starting', 'worker.registered', 'worker.stopping', 'worker.stopped', 'worker.lost', 'task.started', 'task.succeeded', 'task.failed', 'task.queued']
      .map(workerStateAfter)).toEqual(['starting', 'idle', 'draining', 'stopped', 'lost', 'busy', 'idle', 'draining', undefined]);
  });

  it('renames a worker as it takes a task', () => {
    const [next] = applyWorkerEvent([w], ev('task.started', { task: 'b[x=1]', worker: 'w-1', worker_name: 'wa-1-b[x=1]' }));
    expect(next).toMatchObject({ state: 'busy', name: 'wa-1-b[x=1]' });
  });

  it('shows the task a worker takes, of whichever run, until it ends', () => {
    const [busy] = applyWorkerEvent([w], ev('task.started', { run: 'r-2', task: 'b[x=1]', attempt: 2, worker: 'w-1' }));
    expect(busy!.current).toEqual({ run: 'r-2', task: 'b[x=1]', attempt: '', number: 2, kind: 'run', since: '2026-11-22T01:00:05.000Z' });
    const [idle] = applyWorkerEvent([busy!], ev('task.succeeded', { run: 'r-2', task: 'b[x=1]', attempt: 2, worker: 'w-1' }));
    expect(idle).toMatchObject({ state: 'idle', current: null });
  });

  it('records when and why a worker stopped', () => {
    const [next] = applyWorkerEvent([w], ev('worker.lost', { worker: 'w-1', message: 'no heartbeat' }));
    expect(next).toMatchObject({ state: 'lost', stopped_at: '2026-11-22T01:00:05.000Z', stop_reason: 'no heartbeat' });
    expect(isLive(next!)).toBe(false);
  });

  it('adds a worker it has not seen when one starts, and never revives a gone one', () => {
    const added = applyWorkerEvent([], ev('worker.starting', { worker: 'w-2', worker_name: 'ww-0-builder' }));
    expect(added).toEqual([expect.objectContaining({ id: 'w-2', state: 'starting', run: 'r-1' })]);
    const gone = [{ ...w, state: 'stopped' as const }];
    expect(applyWorkerEvent(gone, ev('task.succeeded', { worker: 'w-1' }))).toBe(gone);
    expect(applyWorkerEvent([w], ev('task.started', { worker: 'w-9' }))).toEqual([w]);
  });

  it('knows which events concern workers', () => {
    expect(touchesWorkers(ev('worker.stopped', { worker: 'w-1' }))).toBe(true);
    expect(touchesWorkers(ev('task.started', { worker: 'w-1' }))).toBe(true);
    expect(touchesWorkers(ev('task.queued', { task: 't' }))).toBe(false);
  });
});
