import type { RunStatus } from '../engine/report.ts';
import type { Db } from './store.ts';

/** A run's status as the store has it now; throws for a run it does not know. */
export async function runStatus(db: Db, runId: string): Promise<RunStatus> {
  return (await db.selectFrom('runs').select('status').where('id', '=', runId).executeTakeFirstOrThrow()).status;
}
