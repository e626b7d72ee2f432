import type { Db } from '../../store/store.ts';
import type { Changes } from '../changes.ts';
import type { RunSpec } from '../run-specs.ts';
import { endAttempt } from './end-attempt.ts';

/**
 * One attempt went silent while its worker did not: it ends `lost` and is retried by its
 * task's policy. Its worker, if it is still running it, is told to stop it.
 */
export async function loseAttempt(trx: Db, spec: RunSpec, attemptId: string, reason: string, changes: Changes): Promise<boolean> {
  const attempt = await trx.selectFrom('attempts').select(['id', 'task_key', 'kind', 'number', 'worker_id'])
    .where('id', '=', attemptId).where('outcome', 'is', null).executeTakeFirst();
  if (!attempt) return false;
  await endAttempt(trx, spec, attempt, { outcome: 'lost', exitCode: null, error: reason }, null, changes);
  changes.cancelledAttempts.add(attemptId);
  return true;
}
