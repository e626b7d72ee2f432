import type { WorkerState } from '../engine/fleet-view.ts';
import { handStartedProvider } from '../engine/report.ts';
import type { Db } from './store.ts';

/** What the coordinator needs of a worker to look after it: its run and pool, its machine and who started it. */
export interface WorkerRow {
  id: string;
  /** What `slipway instances list` shows beside the machine. */
  name: string;
  run_id: string;
  activity: string;
  state: WorkerState;
  provider: string;
  /** JSON of the provider's handle on the machine; null until its start is recorded. */
  machine: string | null;
  /** The coordinator process that started its machine; null for one started by hand. */
  owner: string | null;
  /** The coordinator URL its machine was given; null for one started by hand, or by a coordinator not listening yet. */
  server_url: string | null;
  pool_id: string | null;
  created_at: number;
  tasks_done: number;
}

const columns = ['id', 'name', 'run_id', 'activity', 'state', 'provider', 'machine', 'owner', 'server_url', 'pool_id', 'created_at', 'tasks_done'] as const;
/** States in which a worker's machine may be running. */
export const liveWorkerStates: WorkerState[] = ['starting', 'idle', 'busy', 'draining'];
/** Ids per `in (…)` list, well under SQLite's limit on bound values. */
export const idsPerQuery = 500;

export function workerRow(db: Db, workerId: string): Promise<WorkerRow | undefined> {
  return db.selectFrom('workers').select(columns).where('id', '=', workerId).executeTakeFirst();
}

/** The rows of these workers that the store knows. */
export async function workerRows(db: Db, workerIds: string[]): Promise<WorkerRow[]> {
  const rows: WorkerRow[] = [];
  for (let i = 0; i < workerIds.length; i += idsPerQuery) {
    rows.push(...await db.selectFrom('workers').select(columns).where('id', 'in', workerIds.slice(i, i + idsPerQuery)).execute());
  }
  return rows;
}

/**
 * Workers started by hand that their run's end stopped but that have not heard it yet (see
 * credentialRefused): their agent is still to make the request that tells it.
 */
export function unheardHandStarted(db: Db, runId: string): Promise<WorkerRow[]> {
  return db.selectFrom('workers').select(columns).where('run_id', '=', runId).where('state', '=', 'stopped')
    .where('provider', '=', handStartedProvider).where('credential_hash', 'is not', null).execute();
}

/**
 * Workers whose machine `owner` started that were told to stop and whose credential ended
 * (their pool's runs all finished): their agents have nothing left to do but exit.
 */
export function dismissedWorkersOf(db: Db, owner: string): Promise<WorkerRow[]> {
  return db.selectFrom('workers').select(columns).where('state', '=', 'draining').where('owner', '=', owner)
    .where('credential_hash', 'is', null).execute();
}

/** Workers whose machine may still be running, of one run or of every run. */
export function liveWorkers(db: Db, runId?: string): Promise<WorkerRow[]> {
  let query = db.selectFrom('workers').select(columns).where('state', 'in', liveWorkerStates);
  if (runId !== undefined) query = query.where('run_id', '=', runId);
  return query.execute();
}

/** Registered workers that should be talking: the ones whose silence is looked for. */
export function talkingWorkers(db: Db): Promise<{ id: string; run_id: string; last_seen_at: number | null; heartbeat_timeout_ms: number | null }[]> {
  return db.selectFrom('workers').select(['id', 'run_id', 'last_seen_at', 'heartbeat_timeout_ms'])
    .where('state', 'in', ['idle', 'busy', 'draining']).execute();
}

/** Open attempts of busy workers whose last heartbeat is older than `before`. */
export function silentAttempts(db: Db, before: number): Promise<{ id: string; run_id: string; heartbeat_at: number; worker_id: string | null }[]> {
  return db.selectFrom('attempts').innerJoin('workers', 'workers.id', 'attempts.worker_id')
    .select(['attempts.id', 'attempts.run_id', 'attempts.heartbeat_at', 'attempts.worker_id'])
    .where('workers.state', 'in', ['busy', 'draining']).where('attempts.outcome', 'is', null)
    .where('attempts.heartbeat_at', '<', before).execute();
}

/**
 * The state and start of the worker a registration token was made for, found by the token's
 * hash: the only form the store keeps it in. The hash is erased once the token is used.
 */
export async function workerByRegistrationHash(db: Db, hash: string): Promise<{ state: WorkerState; created_at: number } | undefined> {
  return db.selectFrom('workers').select(['state', 'created_at']).where('registration_hash', '=', hash).executeTakeFirst();
}

/** The store's id, which marks the machines its coordinators start. */
export async function storeId(db: Db): Promise<string> {
  return (await db.selectFrom('store_identity').select('id').executeTakeFirstOrThrow()).id;
}
