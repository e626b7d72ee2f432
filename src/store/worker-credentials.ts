import { prepared } from './prepared.ts';

/**
 * The worker a credential opens, found by the credential's hash. The store keeps that hash
 * only while the credential is valid: it is erased when the worker stops or is lost
 * (workerGone) and when its run finishes (drainWorkersOfRun), by whichever coordinator
 * process does so, so every process on the store refuses the credential from that commit
 * on. One read of the workers_credential index, on every worker request.
 */
export const workerByCredential = prepared<{ hash: string }, { id: string; run_id: string; activity: string }>((db, arg) =>
  db.selectFrom('workers').select(['id', 'run_id', 'activity'])
    .where('credential_hash', '=', arg('hash')).where('state', 'in', ['idle', 'busy', 'draining']));
