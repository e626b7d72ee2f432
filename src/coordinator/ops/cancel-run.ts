import type { Db } from '../../store/store.ts';
import type { Changes } from '../changes.ts';
import { drainWorkersOfRun } from './settle-task.ts';

/**
 * Cancels every open task of a run. Attempts in flight end `cancelled` at once, since their
 * workers' credentials end with the run and no result of theirs is taken any more; their
 * workers hear it at their next heartbeat (a held one is answered at once) and kill the
 * task's process tree. The run is recorded as cancelled at once. `reason` says who or what
 * cancelled it in a sentence that starts with "cancelled" (its end's message, each task's error).
 */
export async function cancelRun(trx: Db, runId: string, reason: string, changes: Changes): Promise<boolean> {
  const run = await trx.updateTable('runs').set({ status: 'cancelled', finished_at: changes.now })
    .where('id', '=', runId).where('status', '=', 'running').executeTakeFirst();
  if (Number(run.numUpdatedRows) === 0) return false;
  const open = await trx.selectFrom('tasks').select(['key', 'active_attempt'])
    .where('run_id', '=', runId).where('status', 'in', ['waiting', 'checking', 'queued', 'running']).execute();
  await trx.updateTable('tasks').set({ status: 'cancelled', error: reason, active_attempt: null })
    .where('run_id', '=', runId).where('status', 'in', ['waiting', 'checking', 'queued', 'running']).execute();
  await trx.updateTable('attempts').set({ outcome: 'cancelled', error: reason, finished_at: changes.now })
    .where('run_id', '=', runId).where('outcome', 'is', null).execute();
  for (const task of open) {
    if (task.active_attempt) changes.cancelledAttempts.add(task.active_attempt);
    changes.event(runId, 'task.cancelled', { task: task.key, message: reason });
  }
  changes.finishedRuns.add(runId);
  changes.event(runId, 'run.finished', { message: reason });
  await drainWorkersOfRun(trx, runId, changes);
  return true;
}
