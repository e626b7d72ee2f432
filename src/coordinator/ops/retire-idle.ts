import { mayStopIdle } from '../../engine/provisioning.ts';
import type { MinIdle } from '../../pipeline/types.ts';
import type { Db } from '../../store/store.ts';
import { warmWorkers } from './warm-workers.ts';

/**
 * A worker of a pool that keeps workers warm (min_idle) was idle for its idle_timeout and
 * asks whether it may stop. It may if as many idle workers as the pool keeps now stay
 * without it (`keep`); it is then marked draining in the same transaction, so two idle
 * workers asking at once cannot both leave the pool short.
 */
export async function retireIdle(trx: Db, workerId: string, pool: { minIdle: MinIdle; maxWorkers: number }, now: number): Promise<{ retired: boolean; keep: number }> {
  const worker = await trx.selectFrom('workers').select(['state', 'pool_id']).where('id', '=', workerId).executeTakeFirst();
  if (worker?.state !== 'idle' || worker.pool_id === null) return { retired: false, keep: 0 };
  const keep = await warmWorkers(trx, worker.pool_id, pool.minIdle, pool.maxWorkers, now);
  const idle = await trx.selectFrom('workers').select((eb) => eb.fn.countAll<number>().as('n'))
    .where('pool_id', '=', worker.pool_id).where('state', '=', 'idle').executeTakeFirst();
  if (!mayStopIdle({ idle: Number(idle?.n ?? 0), minIdle: keep })) return { retired: false, keep };
  await trx.updateTable('workers').set({ state: 'draining' }).where('id', '=', workerId).execute();
  return { retired: true, keep };
}
