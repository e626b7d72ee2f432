import { sql } from 'kysely';

/**
 * Tasks a worker could take now, short of a retry delay. Written as literals, not bound
 * parameters, so the planner can prove it matches the partial index `tasks_claimable`.
 * Its columns are unqualified: use it on `tasks` alone, not in a join.
 */
export const claimableTask = sql<boolean>`status in ('checking', 'queued') and active_attempt is null`;

/** claimableTask, past any retry delay at `now`: what a worker could take now. */
export function claimableAt(now: number) {
  return sql<boolean>`${claimableTask} and (not_before is null or not_before <= ${now})`;
}
