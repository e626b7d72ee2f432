import type { Db } from './store.ts';
import { claimableTask } from './claimable.ts';
import { prepared } from './prepared.ts';

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

export const runningRunsOfPool = prepared<{ pool: string }, { run_id: string; activity: string; created_at: number }>((db, arg) =>
  runningRunsOf(db, arg('pool')));

/**
 * The running runs of a pool, oldest first, each with the queue position of its first task
 * a worker could take now (null when it has none), and whether it was told that the pool's
 * spend cap holds it back: one statement however many runs the pool serves, each run's
 * first task found through the claimable index.
 */
export const runsQueueOfPool = prepared<
  { pool: string; now: number }, { run_id: string; activity: string; created_at: number; spend_capped: number; first_seq: number | null }
>((db, arg) =>
  runningRunsOf(db, arg('pool'))
    .select('run_pools.spend_capped')
    .select((eb) => eb.selectFrom('tasks').select('tasks.seq')
      .whereRef('tasks.run_id', '=', 'run_pools.run_id').whereRef('tasks.pool', '=', 'run_pools.activity')
      .where(claimableTask).where((t) => t.or([t('tasks.not_before', 'is', null), t('tasks.not_before', '<=', arg('now'))]))
      .orderBy('tasks.seq').limit(1).as('first_seq')));
