/** The tables of the store, as Kysely sees them. Times are epoch milliseconds. */
import type { Generated } from 'kysely';
import type { BillingMode } from '../engine/cost.ts';
import type { RunEventKind } from '../engine/events.ts';
import type { WorkerState } from '../engine/fleet-view.ts';
import type { AttemptKind, AttemptOutcome, RunStatus, TaskStatus } from '../engine/report.ts';
import type { StopCause } from '../engine/worker-stop.ts';

export interface RunsTable {
  id: string;
  pipeline: string;
  status: RunStatus;
  /** JSON of the validated Pipeline, so a restarted coordinator can carry on. */
  spec: string;
  /** JSON of the Selection (manual mode) the run was started with. */
  selection: string;
  /** JSON of RunOptions. */
  options: string;
  source_dir: string;
  source_digest: string | null;
  /** Where the source came from (RunSource); null for a plain directory. */
  source_vcs: 'git' | 'hg' | null;
  source_repository: string | null;
  source_revision: string | null;
  source_branch: string | null;
  source_base: string | null;
  source_author: string | null;
  source_message: string | null;
  /** 1 for a try. */
  source_try: number;
  /** sha256 of the run's join token: lets hand-started workers register. */
  join_token_hash: string;
  created_at: number;
  finished_at: number | null;
  /** What the run may spend on machines (USD), if it has a budget. */
  budget_usd: number | null;
  /** Once the budget is spent: why no task of the run starts any more. */
  budget_spent: string | null;
}

export interface TasksTable {
  run_id: string;
  key: string;
  /** Position in the expansion: the report's order and the queue's. */
  seq: number;
  step: string;
  matrix: string;
  status: TaskStatus;
  /** The activity whose workers may claim it now: the check's while checking. */
  pool: string;
  pending_needs: number;
  attempts: number;
  /** Attempts made before the latest rerun. */
  retry_base: number;
  checks: number;
  /** The attempt in flight, if any. */
  active_attempt: string | null;
  /** A retry waits until then. */
  not_before: number | null;
  error: string | null;
}

export interface TaskNeedsTable {
  run_id: string;
  key: string;
  needs_key: string;
}

export interface AttemptsTable {
  id: string;
  run_id: string;
  task_key: string;
  kind: AttemptKind;
  number: number;
  worker_id: string;
  outcome: AttemptOutcome | null;
  exit_code: number | null;
  error: string | null;
  started_at: number;
  finished_at: number | null;
  /** How long its script ran, start to exit, as its worker measured it: the rest of the attempt is Slipway's. */
  script_ms: number | null;
  heartbeat_at: number;
}

export interface WorkersTable {
  id: string;
  run_id: string;
  activity: string;
  provider: string;
  name: string;
  state: WorkerState;
  tasks_done: number;
  last_task: string | null;
  registration_hash: string | null;
  credential_hash: string | null;
  /** JSON of the provider's handle on the machine (a pid, an instance id). */
  machine: string | null;
  error: string | null;
  /** Why the worker ended. */
  stop_cause: StopCause | null;
  created_at: number;
  registered_at: number | null;
  /** Written at most about twice per heartbeat interval, so every coordinator on the store sees the worker alive. */
  last_seen_at: number | null;
  /** The heartbeat timeout of the coordinator the worker registered with; null until it registers. */
  heartbeat_timeout_ms: number | null;
  /** The coordinator process that started its machine (a CoordinatorsTable id); null for one started by hand. */
  owner: string | null;
  /** The coordinator URL its machine was given to register at; null for one started by hand. */
  server_url: string | null;
  /** The pool it serves (see RunPoolsTable): tasks of any run whose activity is in it. */
  pool_id: string | null;
  stopped_at: number | null;
  /** When its machine was started; its cost runs from here. */
  machine_at: number | null;
  /** The machine's price (USD per hour) and BillingMode; null for machines that cost nothing known. */
  hourly_usd: number | null;
  billing: BillingMode | null;
}

export interface EventsTable {
  seq: Generated<number>;
  at: number;
  run_id: string;
  kind: RunEventKind;
  task_key: string | null;
  worker_id: string | null;
  worker_name: string | null;
  attempt: number | null;
  message: string | null;
}

export interface TokensTable {
  id: string;
  name: string;
  /** Comma-separated scopes. */
  scopes: string;
  secret_hash: string;
  created_at: number;
  revoked_at: number | null;
}

export interface StoreIdentityTable {
  /** Made once with the store: every coordinator on this store is the same owner of machines. */
  id: string;
}

/** Which pool each activity of a run is in: runs whose activities have the same identity share one. */
export interface RunPoolsTable {
  run_id: string;
  activity: string;
  pool_id: string;
  /** 1 once the run was told that the pool's max_hourly_usd holds its starts back (said once). */
  spend_capped: Generated<number>;
}

/** A coordinator process on the store (a server, a `slipway run`), alive while its lease runs. */
export interface CoordinatorsTable {
  id: string;
  pid: number;
  host: string;
  started_at: number;
  lease_until: number;
  /** The URLs it gives machines on its own host and elsewhere; null until it listens. */
  local_url: string | null;
  remote_url: string | null;
}

/** A secret, sealed (AES-256-GCM) with the state directory's key: see src/secrets/sealing.ts. */
export interface SecretsTable {
  name: string;
  sealed: string;
  updated_at: number;
}

/** A file an attempt kept; its bytes are the blob named by sha256 (see src/blobs). */
export interface ArtifactsTable {
  run_id: string;
  task_key: string;
  attempt_id: string;
  /** Relative to the task's tree, as the agent found it. */
  path: string;
  size: number;
  sha256: string;
  content_type: string;
  created_at: number;
  /** When retention may remove it; null: kept with its run. */
  expires_at: number | null;
}

/** A step cache's entry: the bytes of its paths (a .tar.gz blob) under a key, per scope. */
export interface CachesTable {
  /** The repository's identity, or `pipeline:NAME` for a tree that is in none. */
  scope: string;
  key: string;
  sha256: string;
  size: number;
  created_at: number;
  /** Restored or saved last: the least recently used entries go first past the scope's cap. */
  used_at: number;
}

/** Periodic work one coordinator of the store does at a time, while its lease runs (ms on the database's clock). */
export interface LeasesTable {
  name: string;
  holder: string;
  until: number;
}

/** A log kept in the store (PostgreSQL): by its path under logs/ (`<run>/attempts/<attempt>.log`). */
export interface LogsTable {
  path: string;
  /** Bytes of text it holds. */
  kept: number;
  /** Bytes dropped past `[server] max_log_bytes`. */
  dropped: number;
}

/** A log's text, in the chunks it was written in, each at its byte offset. */
export interface LogChunksTable {
  path: string;
  at: number;
  data: string;
}

/** A blob kept in the store ([blobs] store = "database"): its bytes are its chunks'. */
export interface BlobsTable {
  sha256: string;
  size: number;
  /** When it was written, or last stored again (ms since the epoch): what retention goes by. */
  stored_at: number;
  /** 1 once every chunk is written: a blob cut short is never read. */
  complete: number;
}

/** A blob's bytes, in chunks at their byte offsets. */
export interface BlobChunksTable {
  sha256: string;
  at: number;
  data: Uint8Array;
}

export interface Database {
  runs: RunsTable;
  tasks: TasksTable;
  task_needs: TaskNeedsTable;
  attempts: AttemptsTable;
  workers: WorkersTable;
  events: EventsTable;
  tokens: TokensTable;
  store_identity: StoreIdentityTable;
  coordinators: CoordinatorsTable;
  run_pools: RunPoolsTable;
  secrets: SecretsTable;
  artifacts: ArtifactsTable;
  caches: CachesTable;
  leases: LeasesTable;
  logs: LogsTable;
  log_chunks: LogChunksTable;
  blobs: BlobsTable;
  blob_chunks: BlobChunksTable;
}
