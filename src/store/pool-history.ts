import type { Db } from './store.ts';

/** How many of a pool's latest workers its boot time is taken from. */
const bootSamples = 20;

/**
 * How long the pool's latest workers took from being started to registering, on average
 * (undefined before any registered).
 */
export async function recentBootMs(db: Db, pool: string): Promise<number | undefined> {
  const starts = await db.selectFrom('workers').select(['created_at', 'registered_at'])
    .where('pool_id', '=', pool).where('registered_at', 'is not', null)
    .orderBy('registered_at', 'desc').limit(bootSamples).execute();
  if (starts.length === 0) return undefined;
  return starts.reduce((sum, w) => sum + (w.registered_at! - w.created_at), 0) / starts.length;
}

/** The most attempt starts a warm target reads: the latest ones tell the load well enough, and a busy hour costs no more. */
const startSamples = 2000;

/** When the pool's latest attempts since `since` started, found through the recent attempts (index attempts_started). */
export async function attemptStartsSince(db: Db, pool: string, since: number): Promise<number[]> {
  const rows = await db.selectFrom('attempts').innerJoin('workers', 'workers.id', 'attempts.worker_id')
    .select('attempts.started_at').where('attempts.started_at', '>', since).where('workers.pool_id', '=', pool)
    .orderBy('attempts.started_at', 'desc').limit(startSamples).execute();
  return rows.map((r) => r.started_at);
}
