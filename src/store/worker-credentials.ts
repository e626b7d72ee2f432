import type { WorkerState } from '../engine/fleet-view.ts';
import { prepared, preparedRows } from './prepared.ts';
import type { Db } from './store.ts';

/**
 * The worker a credential opens, found by the credential's hash. The store keeps that hash
 * only while the credential is valid: it is erased when the worker stops or is lost
 * (workerGone) and when its run finishes (drainWorkersOfRun), by whichever coordinator
 * process does so, so every process on the store refuses the credential from that commit
 * on. One read of the workers_credential index, on every worker request; it reads the
 * whole worker as a claim needs it, so a task's finish reads the row once.
 */
/** A worker as its credential finds it: all that a finish and the claim after it read of it. */
export interface CredentialWorker { id: string; run_id: string; activity: string; state: WorkerState; name: string; tasks_done: number; pool_id: string | null }

export const workerByCredential = prepared<{ hash: string }, CredentialWorker>((db, arg) =>
  db.selectFrom('workers').select(['id', 'run_id', 'activity', 'state', 'name', 'tasks_done', 'pool_id'])
    .where('credential_hash', '=', arg('hash')).where('state', 'in', ['idle', 'busy', 'draining']));

const credentialColumns = ['id', 'run_id', 'activity', 'state', 'name', 'tasks_done', 'pool_id', 'credential_hash'] as const;

type FoundWorker = CredentialWorker & { credential_hash: string | null };

const selectByCredentials = preparedRows<[string], FoundWorker>(1, (db, hashes) =>
  db.selectFrom('workers').select(credentialColumns).where('credential_hash', 'in', hashes.map(([hash]) => hash)).where('state', 'in', ['idle', 'busy', 'draining']).compile());

const selectByIds = preparedRows<[string], FoundWorker>(1, (db, ids) =>
  db.selectFrom('workers').select(credentialColumns).where('id', 'in', ids.map(([id]) => id)).compile());

/** workerByCredential for the requests of a batch, in one statement: by hash, those found. */
export async function workersByCredential(db: Db, hashes: string[]): Promise<Map<string, CredentialWorker>> {
  return new Map((await selectByCredentials(db, hashes.map((hash) => [hash]))).rows.map(({ credential_hash, ...worker }) => [credential_hash!, worker]));
}

/** Workers by id, as workerByCredential reads them: by id, those found. */
export async function workersById(db: Db, ids: string[]): Promise<Map<string, CredentialWorker>> {
  return new Map((await selectByIds(db, ids.map((id) => [id]))).rows.map(({ credential_hash: _, ...worker }) => [worker.id, worker]));
}

/**
 * A credential was refused. If it is the kept credential of a worker started by hand whose
 * run ended (drainWorkersOfRun), that worker has now heard it must stop: its credential's
 * hash goes, and so does it from the workers that `slipway run` waits for.
 */
export async function credentialRefused(db: Db, hash: string, now: number): Promise<void> {
  await db.updateTable('workers').set({ credential_hash: null, last_seen_at: now })
    .where('credential_hash', '=', hash).where('state', '=', 'stopped').execute();
}

/** The kept credentials of a run's hand-started workers that never came back to hear their run ended. */
export async function endKeptCredentials(db: Db, runId: string): Promise<void> {
  await db.updateTable('workers').set({ credential_hash: null })
    .where('run_id', '=', runId).where('state', '=', 'stopped').where('credential_hash', 'is not', null).execute();
}
