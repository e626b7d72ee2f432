/**
 * The worker protocol on the wire: what an agent sends to `/api/v1/worker/…` and what the
 * coordinator answers (docs/worker-protocol.md). The coordinator's routes and the agent
 * both use these types, and the agent imports nothing else of the coordinator's, so its
 * bundle holds none of it. Types only, and the one list the `stopped` route checks.
 */
import type { AttemptKind } from '../engine/report.ts';
import type { StopCause } from '../engine/worker-stop.ts';
import type { Script } from '../pipeline/types.ts';

// ---- what a worker learns when it registers ----------------------------------------------

/** A worker's own script (prepare, init, cleanup) with the environment it runs in. */
export interface WorkerScript {
  script: Script;
  env: Record<string, string>;
}

/** The coordinator's limits on source archives, which the worker checks the archive against too. */
export interface SourceLimits {
  max_unpacked_bytes: number;
  max_archive_members: number;
}

/** What a worker learns when it registers. */
export interface WorkerSettings {
  idle_timeout_ms: number;
  /**
   * Its pool keeps idle workers warm (min_idle): past idle_timeout the worker does not stop
   * by itself but claims with `idle`, and the coordinator tells it to stop, or lets it wait on.
   */
  keep_warm?: boolean;
  heartbeat_interval_ms: number;
  /** Runs once per machine and fingerprint, before init; a machine (or image) that ran it keeps a marker. */
  prepare: (WorkerScript & { fingerprint: string }) | null;
  init: WorkerScript | null;
  cleanup: WorkerScript | null;
  source_digest: string | null;
  /** None from an older coordinator: the worker's defaults hold. */
  source_limits?: SourceLimits;
}

/** What a worker needs to run one attempt: the claim's answer. */
export interface AttemptOrder {
  /**
   * Also the attempt's fencing token: heartbeats, output and results are accepted only
   * for the task's active attempt from the worker it was given to, so a worker that was
   * given up on and comes back cannot overwrite a newer attempt's result.
   */
  id: string;
  kind: AttemptKind;
  number: number;
  run: string;
  /**
   * The run's source tree, by digest: a worker of a pool serves tasks of any run in it, and
   * fetches each run's tree once (null: the run has none).
   */
  source_digest: string | null;
  task: string;
  step: string;
  script: Script;
  env: Record<string, string>;
  /**
   * The secrets the step lists, by name: added to `env` for this attempt only, and masked in
   * its output before it is sent. Absent when the step lists none.
   */
  secrets?: Record<string, string>;
  /**
   * Globs of the files a successful attempt keeps: the agent uploads each file they match
   * (`POST /attempts/:id/artifacts/offer`, then where it is told) before it finishes, and fails the attempt when
   * one matches nothing. Absent when the step declares none.
   */
  artifacts?: string[];
  /** The artifacts of the tasks it needs, fetched to $SLIPWAY_INPUTS/<task>/<path> before the script runs. */
  inputs?: ArtifactInput[];
  /** The step's cache: restored before the script, saved after a success. Absent when it has none. */
  cache?: CacheOrder;
  timeout_ms: number | null;
}

/**
 * A step's cache as an attempt gets it: `key` and `restore_keys` with the task's axes filled
 * in, their `{{ hashFiles(…) }}` left for the agent, which has the tree.
 */
export interface CacheOrder {
  key: string;
  paths: string[];
  restore_keys: string[];
  /** False for a try: it restores but never saves. */
  save: boolean;
}

/** `POST /attempts/:id/cache/lookup`: the keys as the agent computed them. */
export interface CacheLookup {
  key: string;
  restore_keys: string[];
}

/** 200 to a cache lookup: the entry to restore (`exact` when its key is the one asked), or none. */
export interface CacheFound {
  entry: { key: string; sha256: string; size: number; exact: boolean } | null;
}

/** An artifact a task gets from a task it needs (`GET /attempts/:id/inputs/:sha256`). */
export interface ArtifactInput {
  task: string;
  path: string;
  sha256: string;
  size: number;
  /**
   * A signed URL to GET the bytes from when the blob store is a bucket (valid an hour from
   * the claim): the agent reads them from the bucket, never through the coordinator.
   */
  url?: string;
}

/**
 * `POST /attempts/:id/artifacts/offer`: a file the attempt keeps, hashed by the agent. The
 * answer is `{ kept }` (201) when the store has those bytes, or `{ upload }` (200): send them
 * to the coordinator (`POST /attempts/:id/artifacts?path=`), or PUT them to the signed URL
 * with those headers and offer again.
 */
export interface ArtifactOffer {
  path: string;
  sha256: string;
  size: number;
}

export type ArtifactOfferAnswer =
  | { kept: { path: string; sha256: string; size: number } }
  | { upload: { send: true } | { put: { url: string; headers: Record<string, string> } } };

// ---- requests ----------------------------------------------------------------------------

/** `POST /register`, with a registration token, a join token or a worker-scoped user token. */
export interface RegisterRequest {
  /** A hand-started worker names the activity it serves. */
  activity?: string;
  hostname?: string;
  pid?: number;
}

/** `POST /claim`: waits up to `wait_ms` for an attempt. */
export interface ClaimRequest {
  wait_ms: number;
  /** The worker is past its idle_timeout (keep_warm): stop it if its pool keeps enough idle without it. */
  idle?: boolean;
}

/** `POST /attempts/:id/heartbeat`: held up to `hold_ms`, answered at once on cancel. */
export interface HeartbeatRequest {
  hold_ms: number;
}

/** How an attempt ended, as its worker reports it. */
export type FinishOutcome = 'succeeded' | 'failed' | 'timed_out' | 'cancelled';

/** `POST /attempts/:id/finish`; with `claim_next`, the answer may carry the worker's next attempt. */
export interface FinishRequest {
  outcome: FinishOutcome;
  exit_code: number | null;
  error: string | null;
  /** How long its script ran, start to exit, as the worker measured it; null when none ran. */
  script_ms: number | null;
  claim_next: boolean;
  /** With `claim_next`: when no attempt is ready, wait up to this long for one, as a claim does. */
  wait_ms: number;
}

/** The causes an agent may give for its own end; the coordinator decides the others (lost, start_failed). */
export const agentStopCauses = ['idle', 'task_failed', 'init_failed', 'told', 'asked', 'agent_error'] as const satisfies readonly StopCause[];
export type AgentStopCause = (typeof agentStopCauses)[number];

/** Why an agent ended, the body of `POST /stopped`: it ran its cleanup and exits. */
export interface AgentStop {
  cause: AgentStopCause;
  reason: string;
}

// ---- answers -----------------------------------------------------------------------------

/** 200 to `register`. */
export interface Registered {
  worker: { id: string; name: string; activity: string; run: string };
  /** The worker's own credential for every later request. */
  credential: string;
  settings: WorkerSettings;
}

/** 410 to `register` and `claim`, 409 to an attempt's routes: why the worker should stop. */
export interface StopAnswer {
  stop: string;
}

/** 200 to `claim`: an attempt, with the worker's new name. */
export interface HandedOut {
  attempt: AttemptOrder;
  name: string;
}

/** 200 to `heartbeat`. */
export interface HeartbeatAnswer {
  cancel: boolean;
}

/** 200 to `finish`: the worker's new name, whether it stops, and its next attempt when it asked for one. */
export interface Finished {
  name: string;
  stop: boolean;
  next?: HandedOut;
}
