import type { Db } from './store.ts';

/** The run an attempt belongs to, which names the folder of its log; undefined when there is no such attempt. */
export async function runOfAttempt(db: Db, attemptId: string): Promise<string | undefined> {
  return (await db.selectFrom('attempts').select('run_id').where('id', '=', attemptId).executeTakeFirst())?.run_id;
}

/** Whether an attempt has its outcome: a log tail then reads to the end of the file and stops. */
export async function attemptHasEnded(db: Db, attemptId: string): Promise<boolean> {
  return (await db.selectFrom('attempts').select('outcome').where('id', '=', attemptId).executeTakeFirst())?.outcome != null;
}
