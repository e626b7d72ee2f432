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
}

export interface RunReport {
  run: {
    id: string;
    pipeline: string;
    status: RunStatus;
    /** The source revision: the sha256 of the run's source tree archive. */
    source: string | null;
    started_at: string;
    finished_at: string | null;
    /** What its machines cost in USD (so far, while running); absent when none has a known price. */
    cost_usd?: number;
  };
  tasks: ReportTask[];
  failures: ReportFailure[];
}
