import { waitingName } from '../../engine/worker-name.ts';
import type { Db } from '../../store/store.ts';
import type { Changes } from '../changes.ts';
import type { RunSpec } from '../run-specs.ts';
import { endAttempt, type AttemptResult } from './end-attempt.ts';

export type FinishResult =
  | { kind: 'recorded'; workerName: string; stop: boolean }
  | { kind: 'unknown' }
  /** The attempt had already ended (lost, cancelled): a newer truth stands. */
  | { kind: 'stale' };

/**
 * A worker reports an attempt's end. After a failed task it takes no new work (DESIGN:
 * it cleans up and shuts down), so it is marked draining here too.
 */
export async function finishAttempt(
  trx: Db, spec: RunSpec, workerId: string, attemptId: string, result: AttemptResult, changes: Changes,
): Promise<FinishResult> {
  const attempt = await trx.selectFrom('attempts').select(['id', 'task_key', 'kind', 'number', 'worker_id', 'outcome'])
    .where('id', '=', attemptId).where('worker_id', '=', workerId).executeTakeFirst();
  if (!attempt) return { kind: 'unknown' };
  if (attempt.outcome !== null) return { kind: 'stale' };
  const worker = await trx.selectFrom('workers').select(['tasks_done', 'state', 'activity'])
    .where('id', '=', workerId).executeTakeFirstOrThrow();
  const tasksDone = worker.tasks_done + 1;
  const name = waitingName(tasksDone, attempt.task_key, worker.activity);
  const workerFailed = attempt.kind === 'run' ? result.outcome !== 'succeeded' : result.outcome !== 'succeeded' && result.outcome !== 'failed';
  // The worker is settled first: ending the attempt may end the run, which drains it.
  await trx.updateTable('workers').set({
    state: workerFailed || worker.state !== 'busy' ? 'draining' : 'idle',
    name, tasks_done: tasksDone, last_task: attempt.task_key, last_seen_at: changes.now,
  }).where('id', '=', workerId).execute();
  await endAttempt(trx, spec, attempt, result, name, changes);
  const stop = workerFailed || worker.state !== 'busy' || changes.finishedRuns.has(spec.id);
  return { kind: 'recorded', workerName: name, stop };
}
