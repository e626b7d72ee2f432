import type { Db } from '../../store/store.ts';

/**
 * Whether the worker has an attempt of the run in hand: a worker serves every run of its
 * pool, and may fetch the source of those it is running a task of, no other.
 */
export async function hasAttemptOf(db: Db, workerId: string, runId: string): Promise<boolean> {
  const row = await db.selectFrom('attempts').select('id')
    .where('worker_id', '=', workerId).where('run_id', '=', runId).where('outcome', 'is', null).limit(1).executeTakeFirst();
  return row !== undefined;
}
