import type { RunEvent, Worker, WorkerState } from './types.ts';

/**
 * The fleet between fetches: worker events, and task events naming a worker, move it to
 * the state they imply, with the task it took or none. Names, counts, ids and costs the
 * events do not settle come from a refetch the page schedules after any of them.
 */
const STATE_AFTER: Readonly<Record<string, WorkerState>> = {
  'worker.starting': 'starting',
  'worker.registered': 'idle',
  'worker.stopping': 'draining',
  'worker.stopped': 'stopped',
  'worker.lost': 'lost',
  'task.started': 'busy',
  'task.succeeded': 'idle',
  'task.skipped': 'idle',
  // After a failed task a worker takes no other: it cleans up and stops.
  'task.failed': 'draining',
  'task.retrying': 'draining',
};

export function workerStateAfter(kind: string): WorkerState | undefined {
  return STATE_AFTER[kind];
}

export function touchesWorkers(e: RunEvent): boolean {
  return e.worker !== undefined || e.kind.startsWith('worker.');
}

export function applyWorkerEvent(workers: readonly Worker[], e: RunEvent): readonly Worker[] {
  const state = workerStateAfter(e.kind);
  if (state === undefined || e.worker === undefined) return workers;
  const i = workers.findIndex((w) => w.id === e.worker);
  if (i < 0) {
    if (e.kind !== 'worker.starting' && e.kind !== 'worker.registered') return workers;
    // Its activity and provider arrive with the refetch that follows.
    return [...workers, {
      id: e.worker, name: e.worker_name ?? e.worker, run: e.run, activity: '', pool: null, provider: '',
      state, tasks_done: 0, machine: null, current: null, hourly_usd: null, cost_usd: null, started_at: e.at, stopped_at: null, stop_reason: null,
    }];
  }
  const w = workers[i]!;
  // A gone worker stays gone: a late task event must not revive it.
  if (GONE.has(w.state)) return workers;
  const next: Worker = { ...w, state };
  // The attempt in hand follows too; its id comes with the refetch.
  if (state === 'busy' && e.kind === 'task.started' && e.task !== undefined && e.attempt !== undefined) {
    next.current = { run: e.run, task: e.task, attempt: '', number: e.attempt, kind: 'run', since: e.at };
  } else if (state !== 'busy') {
    next.current = null;
  }
  if (e.worker_name) next.name = e.worker_name;
  if (state === 'stopped' || state === 'lost') {
    next.stopped_at = e.at;
    next.stop_reason = e.message ?? w.stop_reason;
  }
  const out = workers.slice();
  out[i] = next;
  return out;
}

const GONE: ReadonlySet<WorkerState> = new Set(['stopped', 'lost', 'failed']);

export function isLive(w: Worker): boolean {
  return !GONE.has(w.state);
}
