import { claimableTask } from './claimable.ts';
import type { Db } from './store.ts';

/** The run and activity of every pool with a task a worker could take now: the health check provisions them. */
export function activitiesWithClaimableTasks(db: Db): Promise<{ run_id: string; pool: string }[]> {
  return db.selectFrom('tasks').select(['run_id', 'pool']).distinct().where(claimableTask).execute();
}
