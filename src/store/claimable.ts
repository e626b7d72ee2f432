import { sql } from 'kysely';
import type { Db } from './store.ts';

/**
 * Tasks a worker could take now, short of a retry delay. Written as literals, not bound
 * parameters, so the planner can prove it matches the partial index `tasks_claimable`.
 * Its columns are unqualified: use it on `tasks` alone, not in a join.
 */
export const claimableTask = sql<boolean>`status in ('checking', 'queued') and active_attempt is null`;


/** The run and activity of every pool with a task a worker could take now: the health check provisions them. */
export function activitiesWithClaimableTasks(db: Db): Promise<{ run_id: string; pool: string }[]> {
  return db.selectFrom('tasks').select(['run_id', 'pool']).distinct().where(claimableTask).execute();
}
