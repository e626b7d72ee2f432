/** The state of one activity's pool, as the provisioner sees it. */
export interface PoolState {
  maxWorkers: number;
  /** Tasks that a worker could claim now. */
  queued: number;
  starting: number;
  idle: number;
  busy: number;
  draining: number;
}

/** What a ramping pool has seen of its own pace: recent attempts and worker starts. */
export interface PoolPace {
  /** How long its recent attempts took, on average. */
  attemptMs: number;
  /** How long its workers took from being started to registering, on average. */
  startMs: number;
}

/**
 * DESIGN: start min(max_workers - live, queued - idle - starting) workers.
 *
 * With `rampUp`, for workers that share the coordinator's machine (local ones), no more
 * start at once than are already up (one when none is), so the pool doubles as workers
 * come up: starting eight agents at once on a small machine delays every one of them,
 * while the first one up could have done the work. And once the pool's `pace` is known,
 * none starts while the workers it has would finish the queue before a new one is up.
 * Machines of their own start at once.
 */
export function workersToStart(pool: PoolState, options: { rampUp?: boolean; pace?: PoolPace } = {}): number {
  const live = pool.starting + pool.idle + pool.busy + pool.draining;
  const wanted = Math.min(pool.maxWorkers - live, pool.queued - pool.idle - pool.starting);
  if (!options.rampUp) return Math.max(0, wanted);
  const up = pool.idle + pool.busy;
  if (options.pace && up > 0 && pool.queued < queueWorthAWorker(options.pace, up + pool.starting)) return 0;
  return Math.max(0, Math.min(wanted, Math.max(1, up) - pool.starting));
}

/** The shortest queue that `workers` would not finish before one more worker is up. */
export function queueWorthAWorker(pace: PoolPace, workers: number): number {
  return Math.ceil((pace.startMs * workers) / Math.max(1, pace.attemptMs));
}
