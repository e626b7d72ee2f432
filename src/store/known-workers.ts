import type { WorkerState } from '../engine/fleet-view.ts';
import type { Db } from './store.ts';

/** Workers looked up by what someone outside the store holds: a log's worker id, a machine's marker, a registration token. */

/** The run a worker was started for, which names the folder of its log; undefined when there is no such worker. */
export async function runOfWorker(db: Db, workerId: string): Promise<string | undefined> {
  return (await db.selectFrom('workers').select('run_id').where('id', '=', workerId).executeTakeFirst())?.run_id;
}

/** What the store says of a machine's worker, for `slipway instances list`. */
export interface StoredWorker {
  id: string;
  name: string;
  run_id: string;
  activity: string;
  state: WorkerState;
}

/** The workers of these ids the store knows, by id; a machine whose worker is missing is not Slipway's any more. */
export async function workersByIds(db: Db, ids: string[]): Promise<Map<string, StoredWorker>> {
  const rows = await db.selectFrom('workers').select(['id', 'name', 'run_id', 'activity', 'state']).where('id', 'in', ids).execute();
  return new Map(rows.map((row) => [row.id, row]));
}

/**
 * The state and start of the worker a registration token was made for, found by the token's
 * hash: the only form the store keeps it in. The hash is erased once the token is used.
 */
export async function workerByRegistrationHash(db: Db, hash: string): Promise<{ state: WorkerState; created_at: number } | undefined> {
  return db.selectFrom('workers').select(['state', 'created_at']).where('registration_hash', '=', hash).executeTakeFirst();
}
