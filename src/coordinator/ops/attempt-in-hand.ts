import type { AttemptKind } from '../../engine/report.ts';
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

/** The worker's attempt `attemptId` while it is in hand (not yet finished): its run, task, step and kind. */
export function attemptInHand(db: Db, workerId: string, attemptId: string): Promise<{ run_id: string; task_key: string; step: string; kind: AttemptKind } | undefined> {
  return db.selectFrom('attempts')
    .innerJoin('tasks', (join) => join.onRef('tasks.run_id', '=', 'attempts.run_id').onRef('tasks.key', '=', 'attempts.task_key'))
    .select(['attempts.run_id', 'attempts.task_key', 'tasks.step', 'attempts.kind'])
    .where('attempts.id', '=', attemptId).where('attempts.worker_id', '=', workerId).where('attempts.outcome', 'is', null).executeTakeFirst();
}
