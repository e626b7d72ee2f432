import type { WorkerStop } from '../../engine/worker-stop.ts';
import type { Db } from '../../store/store.ts';
import type { Changes } from '../changes.ts';
import type { SpecOf } from './claim.ts';
import { endAttempt } from './end-attempt.ts';

/**
 * A worker left: it said so after its cleanup, or it was given up on (cause `lost`: no
 * heartbeat, its process died, its machine vanished). Any attempt it still had ends `lost`
 * and is retried by the task's policy.
 *
 * A worker of a finished run was told to stop, and its credential ended with the run
 * (drainWorkersOfRun): it has no way left to say it stopped, so however it goes (its
 * process exits, its machine is gone, it falls silent) with no attempt in hand, it stopped
 * as told rather than was lost.
 */
export async function workerGone(
  trx: Db, specOf: SpecOf, workerId: string, stop: WorkerStop, changes: Changes,
): Promise<boolean> {
  const worker = await trx.selectFrom('workers').select(['state', 'name', 'activity', 'credential_hash', 'run_id'])
    .where('id', '=', workerId).executeTakeFirst();
  if (!worker || worker.state === 'stopped' || worker.state === 'lost' || worker.state === 'failed') return false;
  const open = await trx.selectFrom('attempts').select(['id', 'run_id', 'task_key', 'kind', 'number', 'worker_id'])
    .where('worker_id', '=', workerId).where('outcome', 'is', null).execute();
  const toldByRunEnd = stop.cause === 'lost' && worker.state === 'draining' && worker.credential_hash === null && open.length === 0;
  const { cause, reason } = toldByRunEnd ? { cause: 'told' as const, reason: `its run ended; ${stop.reason}` } : stop;
  const state = cause === 'lost' ? 'lost' : 'stopped';
  for (const attempt of open) {
    // Its attempt may be of any run its pool serves.
    await endAttempt(trx, await specOf(attempt.run_id), attempt, { outcome: 'lost', exitCode: null, error: `worker lost: ${reason}` }, worker.name, changes);
  }
  // Its credential ends with it: a lost worker that comes back, or whoever copied its
  // credential, is refused on every route (401), and the agent takes that as told to stop.
  await trx.updateTable('workers').set({
    state, stop_cause: cause, stopped_at: changes.now, registration_hash: null, credential_hash: null, error: reason,
  }).where('id', '=', workerId).execute();
  changes.event(worker.run_id, state === 'lost' ? 'worker.lost' : 'worker.stopped', { worker: workerId, worker_name: worker.name, message: reason });
  return true;
}
