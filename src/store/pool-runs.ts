import { sql, type ExpressionBuilder } from 'kysely';
import type { Db } from './store.ts';
import { claimableAt } from './claimable.ts';
import { prepared } from './prepared.ts';
import type { Database } from './schema.ts';

/**
 * The running runs a pool serves, oldest first, each with its activity in the pool. Found
 * through the few running runs (index runs_running), not through every run the pool ever
 * served: a long-lived server's pool has served thousands, and claims read this each time.
 */
function runningRunsOf(db: Db, pool: string) {
  return db.selectFrom('run_pools').innerJoin('runs', 'runs.id', 'run_pools.run_id')
    .select(['run_pools.run_id', 'run_pools.activity', 'runs.created_at'])
    .where('run_pools.pool_id', '=', pool)
    .where('run_pools.run_id', 'in', (eb) => eb.selectFrom('runs').select('id').where('status', '=', 'running'))
    .orderBy('runs.created_at').orderBy('runs.id');
}

/** The key of a pool's run's first task a worker could take now, found through the claimable index. */
function firstClaimableKey(eb: ExpressionBuilder<Database, 'run_pools'>, now: number) {
  return eb.selectFrom('tasks').select('tasks.key')
    .whereRef('tasks.run_id', '=', 'run_pools.run_id').whereRef('tasks.pool', '=', 'run_pools.activity')
    .where(claimableAt(now)).orderBy('tasks.seq').limit(sql.lit(1));
}

export const runningRunsOfPool = prepared<{ pool: string }, { run_id: string; activity: string; created_at: number }>((db, arg) =>
  runningRunsOf(db, arg('pool')));

/**
 * The running runs of a pool, oldest first, each with the key of its first task a worker
 * could take now (null when it has none) and whether it was told that the pool's spend cap
 * holds it back: one statement however many runs the pool serves, which gives a claim the
 * runs it chooses between, and the provisioner the runs that wait. The key is a subquery
 * of each run, not a join: a join lets PostgreSQL, misled by statistics from before a run's
 * tasks were inserted, hash all of the run's claimable tasks on every claim.
 */
export const runsQueueOfPool = prepared<
  { pool: string; now: number },
  { run_id: string; activity: string; created_at: number; spend_capped: number; key: string | null }
>((db, arg) =>
  runningRunsOf(db, arg('pool')).select(['run_pools.spend_capped', (eb) => firstClaimableKey(eb, arg('now')).as('key')]));
