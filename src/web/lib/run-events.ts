import type { Attempt, Counts, RunDetail, RunEvent, Task, TaskStatus } from './types.ts';
import { statusAfter } from '../../engine/task-events.ts';

/**
 * How the run page follows a run between fetches: each task event moves its task to the
 * status the event implies, so the grid changes the moment the event arrives. Whatever an
 * event does not carry (errors, attempt ids) comes from a refetch the page schedules.
 */

const OUTCOME_AFTER: Readonly<Record<string, Attempt['outcome']>> = {
  'task.succeeded': 'succeeded',
  'task.failed': 'failed',
  'task.retrying': 'failed',
  'task.cancelled': 'cancelled',
};

export { statusAfter };

/** Events after which the page refetches the run: they change what events cannot carry. */
export function needsRefetch(e: RunEvent): boolean {
  return e.kind === 'run.finished' || e.kind === 'run.started' || e.kind === 'run.capped' || e.kind === 'task.failed';
}

export function countTasks(tasks: readonly Task[]): Counts {
  const counts: Counts = {};
  for (const t of tasks) counts[t.status] = (counts[t.status] ?? 0) + 1;
  return counts;
}

/** The detail after one event; the same object when the event changes nothing shown. */
export function applyRunEvent(detail: RunDetail, e: RunEvent): RunDetail {
  if (e.run !== detail.run.id) return detail;
  if (detail.last_seq !== undefined && e.seq <= detail.last_seq) return detail;
  if (e.kind === 'run.started') {
    return { ...detail, run: { ...detail.run, status: 'running', finished_at: null } };
  }
  const status = statusAfter(e.kind);
  if (status === undefined || e.task === undefined) return detail;
  const index = detail.tasks.findIndex((t) => t.id === e.task);
  if (index < 0) return detail;
  const task = applyTaskEvent(detail.tasks[index]!, e, status);
  const tasks = detail.tasks.slice();
  tasks[index] = task;
  const run = { ...detail.run, counts: countTasks(tasks) };
  // A task running again after a rerun means the run is live again.
  if (!FINAL.has(status) && run.status !== 'running') { run.status = 'running'; run.finished_at = null; }
  return { ...detail, run, tasks };
}

const FINAL: ReadonlySet<TaskStatus> = new Set(['succeeded', 'failed', 'skipped', 'blocked', 'cancelled']);

function applyTaskEvent(task: Task, e: RunEvent, status: TaskStatus): Task {
  let attempts = task.attempts;
  if (e.attempt !== undefined) {
    const i = attempts.findIndex((a) => a.number === e.attempt);
    if (e.kind === 'task.started' && i < 0) {
      // Provisional until the task is refetched: it has no id yet, so no log.
      attempts = [...attempts, {
        id: '', number: e.attempt, worker: e.worker ?? null, worker_name: e.worker_name ?? null, pool: null,
        outcome: null, exit_code: null, error: null, started_at: e.at, finished_at: null, script_ms: null,
      }];
    } else if (i >= 0 && OUTCOME_AFTER[e.kind] && attempts[i]!.outcome === null) {
      attempts = attempts.slice();
      attempts[i] = {
        ...attempts[i]!, outcome: OUTCOME_AFTER[e.kind]!, finished_at: e.at,
        error: e.kind === 'task.succeeded' ? null : (e.message ?? attempts[i]!.error),
      };
    }
  }
  return { ...task, status, attempts };
}
