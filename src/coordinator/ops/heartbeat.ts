import type { Db } from '../../store/store.ts';

/**
 * Records a heartbeat of an open attempt of this worker, and says what became of its task:
 * a cancel may have been committed by another coordinator process on the store. Undefined
 * when the attempt is not this worker's open attempt (any more).
 */
export async function recordHeartbeat(db: Db, workerId: string, attemptId: string, now: number): Promise<{ run: string; task: string; cancelled: boolean } | undefined> {
  const updated = await db.updateTable('attempts').set({ heartbeat_at: now })
    .where('id', '=', attemptId).where('worker_id', '=', workerId).where('outcome', 'is', null).executeTakeFirst();
  if (Number(updated.numUpdatedRows) === 0) return undefined;
  const row = await db.selectFrom('attempts')
    .innerJoin('tasks', (join) => join.onRef('tasks.run_id', '=', 'attempts.run_id').onRef('tasks.key', '=', 'attempts.task_key'))
    .select(['attempts.run_id', 'attempts.task_key', 'tasks.status']).where('attempts.id', '=', attemptId).executeTakeFirst();
  if (!row) return undefined;
  return { run: row.run_id, task: row.task_key, cancelled: row.status === 'cancelled' };
}

/** A worker was heard from: the time every coordinator on the store judges its silence by. */
export async function recordWorkerSeen(db: Db, workerId: string, now: number): Promise<void> {
  await db.updateTable('workers').set({ last_seen_at: now }).where('id', '=', workerId)
    .where('state', 'in', ['idle', 'busy', 'draining']).execute();
}
