import { warmTarget } from '../../engine/warm-target.ts';
import type { MinIdle } from '../../pipeline/types.ts';
import { attemptStartsSince, recentBootMs } from '../../store/pool-history.ts';
import type { Db } from '../../store/store.ts';

/** The stretch of recent load a pool's warm target is read from. */
const warmWindowMs = 3_600_000;

/**
 * How many idle workers the pool keeps now: its `min_idle`, or with "auto" the warm target
 * of its last hour of attempt starts and its workers' boot time (see warmTarget), at most
 * `maxWorkers`. None before a worker of the pool ever registered.
 */
export async function warmWorkers(trx: Db, pool: string, minIdle: MinIdle, maxWorkers: number, now: number): Promise<number> {
  if (minIdle !== 'auto') return minIdle;
  const bootMs = await recentBootMs(trx, pool);
  if (bootMs === undefined) return 0;
  return Math.min(maxWorkers, warmTarget(await attemptStartsSince(trx, pool, now - warmWindowMs), bootMs));
}
