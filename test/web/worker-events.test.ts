import { describe, expect, it } from 'vitest';
import { applyWorkerEvent, isLive, touchesWorkers, workerStateAfter } from '../../src/web/lib/worker-events.ts';
import type { RunEvent, Worker } from '../../src/web/lib/types.ts';

const ev = (kind: RunEvent['kind'], extra: Partial<RunEvent> = {}): RunEvent => ({ seq: 1, at: '2026-11-22T01:00:05.000Z', run: 'r-1', kind, ...extra });
const w: Worker = {
  id: 'w-1', name: 'ww-0-builder', run: 'r-1', activity: 'builder', provider: 'local', state: 'idle',
  tasks_done: 0, started_at: '2026-11-22T01:00:00.000Z', stopped_at: null, stop_reason: null,
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
