import type { Db } from '../../store/store.ts';
import type { Changes } from '../changes.ts';

/**
 * Marks a worker draining: its attempt in hand runs to its end, its next claim or finish
 * answers "stop", and it acknowledges by saying it stopped. Only a worker that is up can
 * drain; one starting has nothing in flight and is simply not needed.
 */
export async function drainWorker(trx: Db, runId: string, workerId: string, reason: string, changes: Changes): Promise<boolean> {
  const worker = await trx.selectFrom('workers').select(['activity', 'name', 'pool_id']).where('id', '=', workerId)
    .where('state', 'in', ['idle', 'busy']).executeTakeFirst();
  if (!worker) return false;
  await trx.updateTable('workers').set({ state: 'draining' }).where('id', '=', workerId).execute();
  changes.event(runId, 'worker.stopping', { worker: workerId, worker_name: worker.name, message: reason });
  // Wakes an idle worker's waiting claim, which then hears it must stop.
  changes.drained.add(worker.pool_id ?? `${runId}/${worker.activity}`);
  return true;
}
