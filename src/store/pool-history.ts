import type { Db } from './store.ts';

/** How many of a pool's latest workers its boot time is taken from. */
const bootSamples = 20;

/**
 * How long the pool's latest workers took from being started to registering, on average
 * (undefined before any registered). Found in order by index workers_pool_registered.
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

/**
 * When the pool's latest attempts since `since` started, found through the recent attempts
 * (index attempts_started), each then looked up by its worker. With an inner join, SQLite
 * without statistics starts from the pool's workers instead (index workers_pool_id), and so
 * reads every attempt the pool ever had: it takes a CROSS JOIN for the order its tables are
 * joined in. PostgreSQL plans a cross join with a join condition as it would an inner join.
 */
export async function attemptStartsSince(db: Db, pool: string, since: number): Promise<number[]> {
  const rows = await attemptsOfPool(db, pool)
    .select('attempts.started_at').where('attempts.started_at', '>', since)
    .orderBy('attempts.started_at', 'desc').limit(startSamples).execute();
  return rows.map((r) => r.started_at);
}

/** The attempts of the pool's workers, read in the attempts' own order (see attemptStartsSince). */
export function attemptsOfPool(db: Db, pool: string) {
  return db.selectFrom('attempts').crossJoin('workers').whereRef('workers.id', '=', 'attempts.worker_id')
    .where('workers.pool_id', '=', pool);
}
