/** A run with claimable tasks in a pool, as a free worker of the pool sees it. */
export interface WaitingRun {
  runId: string;
  createdAt: number;
  /** Attempts of the run running on the pool's workers now. */
  running: number;
}

/**
 * Which run a free worker serves next. Oldest first, so runs finish in the order they were
 * submitted; but a run that has fewer of the pool's workers than another goes first, so a
 * long run that queued thousands of tasks cannot starve a short one submitted after it:
 * the short run gets the next free worker, and each run soon holds an equal share.
 */
export function nextRun(waiting: readonly WaitingRun[]): string | undefined {
  let best: WaitingRun | undefined;
  for (const run of waiting) {
    if (!best || run.running < best.running || (run.running === best.running && run.createdAt < best.createdAt)) best = run;
  }
  return best?.runId;
}
