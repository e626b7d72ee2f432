/** The run report: the JSON contract of `slipway run --json` and `slipway show --json`. */

export type RunStatus = 'running' | 'succeeded' | 'failed' | 'cancelled';

export type TaskStatus =
  | 'waiting' | 'checking' | 'queued' | 'running'
  | 'succeeded' | 'failed' | 'skipped' | 'blocked' | 'cancelled';

export type AttemptOutcome = 'succeeded' | 'failed' | 'timed_out' | 'lost' | 'cancelled';

/** What an attempt runs: the task's script, or its done_if check. */
export type AttemptKind = 'run' | 'check';

/** The provider a worker started by hand (`slipway worker`) is recorded with. */
export const handStartedProvider = 'manual';

export interface ReportAttempt {
  /** The attempt's id: its log is `slipway logs` / `GET /api/v1/attempts/:id/log`. */
  id: string;
  number: number;
  /** The worker that ran it (`GET /api/v1/workers` tells its activity, provider and end). */
  worker: string | null;
  /** The worker's name when last seen (its `ww-`/`wa-` names change as it works). */
  worker_name: string | null;
  /**
   * The pool that worker served (`GET /api/v1/pools`, the workers page): runs whose
   * activities are alike share one. null when no worker is known.
   */
  pool: string | null;
  /**
   * Present when that worker was started by hand (`slipway worker` with a join or worker
   * token) rather than by a provider: whoever ran it chose the machine, not the config.
   */
  hand_started?: true;
  /** null while the attempt is still running. */
  outcome: AttemptOutcome | null;
  exit_code: number | null;
  error: string | null;
  started_at: string;
  finished_at: string | null;
  /**
   * How long its script ran, from its start to its exit, as its worker measured it: the rest
   * of the attempt is what Slipway added. null while running, and when no script ran or its
   * worker was lost.
   */
  script_ms: number | null;
}

export interface ReportTask {
  id: string;
  step: string;
  matrix: Record<string, string>;
  status: TaskStatus;
  attempts: ReportAttempt[];
}

export interface ReportFailure {
  task: string;
  step: string;
  matrix: Record<string, string>;
  worker: string | null;
  error: string;
  /** The last lines its last attempt printed, which often say why; absent when it printed nothing, and past the report's first 20 failures. */
  log_tail?: string;
}

/**
 * Where a run's source tree came from. A plain directory has only its digest (vcs and the
 * rest null); a git or Mercurial working tree its repository, branch and base; a committed
 * revision (`run --revision`, a try) its revision, author and message.
 */
export interface RunSource {
  /** The sha256 of the run's source tree archive, which workers fetch. */
  digest: string | null;
  vcs: 'git' | 'hg' | null;
  /** The working copy's root, or the remote the server fetched from. */
  repository: string | null;
  /** The full id of the committed revision run; null for a working tree or a plain directory. */
  revision: string | null;
  /** git's branch; hg's bookmark, or else its named branch. */
  branch: string | null;
  /** What the tree is based on: a working tree's parent revision; a try's last revision the server had. */
  base: string | null;
  author: string | null;
  message: string | null;
  /** A try: a revision sent to a server without being pushed anywhere. */
  try: boolean;
}

/** A run's source besides its digest: what the CLI (or a try) says of it at submit. */
export type SourceOrigin = Omit<RunSource, 'digest'>;

/** A file a task's successful attempt kept, as the API, `slipway artifacts` and the web UI list it. */
export interface Artifact {
  task: string;
  path: string;
  size: number;
  sha256: string;
  content_type: string;
  /** ms since the epoch. */
  created_at: number;
  /** When retention may remove it; null: kept with its run. */
  expires_at: number | null;
}

export interface RunReport {
  run: {
    id: string;
    pipeline: string;
    status: RunStatus;
    source: RunSource;
    started_at: string;
    finished_at: string | null;
    /**
     * What it spent in USD on priced machines (so far, while running): its attempts' time, and
     * the rest of the time of the machines started for it (see runSpend); absent when none has a price.
     */
    cost_usd?: number;
    /** What it may spend; absent without a budget. */
    budget_usd?: number;
    /** Why a spend cap holds it back: its budget is spent, or (while it runs) its pool's max_hourly_usd. */
    spend_cap?: string;
    /** Why a cancelled run was cancelled: by whom or what (`slipway cancel`, Ctrl-C, a closed terminal, …). */
    cancel_reason?: string;
  };
  tasks: ReportTask[];
  failures: ReportFailure[];
}
