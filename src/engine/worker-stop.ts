import { formatDuration } from '../util/duration-text.ts';

/** Why a worker ended: said by the agent, or decided by the coordinator. */
export type StopCause =
  | 'idle'          // no task for idle_timeout
  | 'task_failed'   // a failed task ends its worker (DESIGN)
  | 'init_failed'
  | 'told'          // the coordinator drained it: run over, cancelled, scaled down
  | 'asked'         // its process was signalled
  | 'agent_error'
  | 'start_failed'  // the provider could not start its machine
  | 'lost';         // silent, or its process died

export interface WorkerStop {
  cause: StopCause;
  reason: string;
}

/** One earlier worker of an activity, as the give-up rule sees it. */
export interface StartHistory {
  cause: StopCause | null;
  /** When its start was decided. */
  createdAt: number;
  /** Whether it ever registered. */
  registered: boolean;
  /** Whether it finished a task. */
  worked?: boolean;
  /** When it stopped, if it did. */
  stoppedAt?: number | null;
}

/** A worker that ended before doing any work, for a cause that would end the next one the same way. */
function neverWorked(worker: StartHistory): boolean {
  return worker.cause === 'init_failed' || worker.cause === 'start_failed'
    || (worker.cause === 'lost' && !worker.registered)
    || (worker.cause === 'agent_error' && worker.worked !== true);
}

/** The latest workers, newest first, up to the first that came up and worked. */
function failedStreak(latestFirst: readonly StartHistory[]): StartHistory[] {
  const streak: StartHistory[] = [];
  for (const worker of latestFirst) {
    if (!neverWorked(worker)) break;
    streak.push(worker);
  }
  return streak;
}

const firstPauseMs = 5_000;
const longestPauseMs = 5 * 60_000;

/**
 * How long to wait before starting the next worker of an activity whose latest worker
 * ended in an agent error without working (an agent that cannot unpack the source, say):
 * 5 s after the first, doubling to 5 minutes, from when the latest stopped. Without it each
 * failure would start the next worker at once, hundreds a minute.
 */
export function startPauseMs(latestFirst: readonly StartHistory[], now: number): number {
  const streak = failedStreak(latestFirst);
  const latest = streak[0];
  // Failed starts are paced by their own retries, failed inits by giving up after a few.
  if (latest?.cause !== 'agent_error' || !latest.stoppedAt) return 0;
  const pause = Math.min(firstPauseMs * 2 ** (streak.length - 1), longestPauseMs);
  return Math.max(0, latest.stoppedAt + pause - now);
}

export interface GiveUpLimits {
  /** Workers in a row whose init failed: init is the pipeline's own script, so retrying it soon is pointless. */
  initFailures: number;
  /** How long workers may keep failing to come up (refused starts, never registering) before giving up. */
  startFailingMs: number;
}

/**
 * Whether an activity gives up on getting a worker, and why: its latest workers, newest
 * first, all failed to come up, either `initFailures` of them in their init, or for
 * `startFailingMs` since the first of them was started. Starting more would loop forever,
 * so its queued tasks fail with the cause instead of waiting.
 */
export function givesUp(latestFirst: readonly StartHistory[], now: number, limits: GiveUpLimits): string | undefined {
  const streak = failedStreak(latestFirst);
  if (streak.length >= limits.initFailures && streak.slice(0, limits.initFailures).every((w) => w.cause === 'init_failed')) {
    return `${limits.initFailures} workers in a row failed their init`;
  }
  const oldest = streak.at(-1);
  if (oldest && streak.some((w) => w.cause !== 'init_failed') && now - oldest.createdAt >= limits.startFailingMs) {
    return `no worker could come up for ${formatDuration(now - oldest.createdAt)} (${streak.length} tried)`;
  }
  return undefined;
}
