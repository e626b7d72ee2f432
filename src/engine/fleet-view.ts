/**
 * The fleet as the user API shows it (`GET /api/v1/workers`, `GET /api/v1/pools`): plain
 * types, shared by the store that reads them and the web UI that shows them.
 */
import type { AttemptKind } from './report.ts';

export type WorkerState = 'starting' | 'idle' | 'busy' | 'draining' | 'stopped' | 'lost' | 'failed';

/** The attempt a worker has in hand. */
export interface WorkerAttempt {
  run: string;
  task: string;
  /** The attempt's id: its log is `GET /api/v1/attempts/:id/log`. */
  attempt: string;
  number: number;
  /** `check` while it runs the task's done_if check. */
  kind: AttemptKind;
  /** When the attempt started (ISO-8601). */
  since: string;
}

export interface FleetWorker {
  id: string;
  name: string;
  /** The run it was started for; it may run tasks of any run of its pool. */
  run: string;
  activity: string;
  /** The pool it serves: tasks of every run whose activity is in it. */
  pool: string | null;
  provider: string;
  state: WorkerState;
  tasks_done: number;
  /** Its machine in a few words (a pid, a host, an instance); null before it has one, or when started by hand. */
  machine: string | null;
  /** The attempt it has in hand, if any. */
  current: WorkerAttempt | null;
  /** Its machine's price in USD per hour; null when it has none known. */
  hourly_usd: number | null;
  /** What its machine cost so far, as it is billed (up to now while it runs); null when it has no known price. */
  cost_usd: number | null;
  started_at: string;
  stopped_at: string | null;
  stop_reason: string | null;
}

/** A pool as it is now: the runs it serves and its workers, for pools that serve a running run or have a live worker. */
export interface PoolSummary {
  id: string;
  activity: string;
  provider: string;
  /** The running runs it serves now, oldest first. */
  runs: string[];
  /** Its cap: the largest max_workers of the runs it serves (of its live workers' runs when it serves none now). */
  max_workers: number;
  /** Workers starting, idle, busy or draining. */
  live: number;
  /** Tasks of its runs that a worker could take now (a retry waiting out its delay included). */
  queued: number;
}
