/** The state of one pool, as the provisioner sees it. */
export interface PoolState {
  maxWorkers: number;
  /** Idle workers to keep up even when nothing is queued (an operator's pool's `min_idle`). */
  minIdle?: number;
  /** Tasks that a worker could claim now. */
  queued: number;
  starting: number;
  idle: number;
  busy: number;
  draining: number;
}

/** What a ramping pool has seen of its own pace: recent attempts and worker starts. */
export interface PoolPace {
  /**
   * How long its recent attempts took, on average, those still running counted as long as
   * they have run so far: a pool whose tasks became slower (another run's step, one that
   * hangs) learns it before they end.
   */
  attemptMs: number;
  /** How many attempts that average is of, and how many of them are still running. */
  sampled: number;
  running: number;
  /** How long its workers took from being started to registering, on average. */
  startMs: number;
}

/**
 * DESIGN: start min(max_workers - live, queued - idle - starting) workers.
 *
 * A pool with `minIdle` wants at least that many workers idle or on their way up besides
 * the busy ones, so it starts min(max_workers - live, max(queued, min_idle) - idle - starting):
 * min_idle is a floor under the demand, never a way past max_workers. `providerRoom` is
 * what the provider's fleet-wide cap leaves (its max_workers less its live workers in every
 * pool); no start goes past it either.
 *
 * With `rampUp`, for workers that share the coordinator's machine (local ones), no more
 * start at once than are already up (one when none is), so the pool doubles as workers
 * come up: starting eight agents at once on a small machine delays every one of them,
 * while the first one up could have done the work. And once the pool's `pace` is known,
 * none starts while the workers it has would finish the queue before a new one is up.
 * Machines of their own start at once.
 */
export function workersToStart(pool: PoolState, options: { rampUp?: boolean; pace?: PoolPace; providerRoom?: number } = {}): number {
  const live = pool.starting + pool.idle + pool.busy + pool.draining;
  const room = Math.min(pool.maxWorkers - live, options.providerRoom ?? Infinity);
  const warm = (pool.minIdle ?? 0) - pool.idle - pool.starting;
  return Math.max(0, Math.min(room, Math.max(warm, forQueue(pool, options))));
}

/** Workers the queue calls for, ramping up as workersToStart says. */
function forQueue(pool: PoolState, options: { rampUp?: boolean; pace?: PoolPace }): number {
  const wanted = pool.queued - pool.idle - pool.starting;
  if (!options.rampUp) return wanted;
  const up = pool.idle + pool.busy;
  if (options.pace && up > 0 && pool.queued < queueWorthAWorker(options.pace, up + pool.starting)) return 0;
  return Math.min(wanted, Math.max(1, up) - pool.starting);
}

/**
 * Whether an idle worker past its idle_timeout may stop: only if as many idle workers as
 * the pool keeps warm stay without it. `idle` counts the asking worker; workers on their
 * way up do not count, as they might never come.
 */
export function mayStopIdle(pool: { idle: number; minIdle: number }): boolean {
  return pool.idle - 1 >= pool.minIdle;
}

/**
 * How many machines at `hourlyUsd` each a pool's `max_hourly_usd` pays for at once: its cap
 * on live workers from spend, none when either is unknown (a free machine costs nothing).
 */
export function workersWithinSpend(maxHourlyUsd: number | undefined, hourlyUsd: number | undefined): number {
  if (maxHourlyUsd === undefined || hourlyUsd === undefined || hourlyUsd <= 0) return Infinity;
  // A cap written as a multiple of the price pays for that many, floating point aside.
  return Math.floor(maxHourlyUsd / hourlyUsd + 1e-9);
}

/** The shortest queue that `workers` would not finish before one more worker is up. */
export function queueWorthAWorker(pace: PoolPace, workers: number): number {
  return Math.ceil((pace.startMs * workers) / Math.max(1, pace.attemptMs));
}

/**
 * When a pool whose pace holds back a start for `queued` tasks should look again: its
 * running attempts' time grows, and with it the pace, until one more worker pays. With none
 * running (a worker just up, about to take one), after a worker's start.
 */
export function paceWorthInMs(pace: PoolPace, workers: number, queued: number): number {
  if (pace.running === 0) return pace.startMs;
  const worthAt = (pace.startMs * workers) / Math.max(1, queued);
  return Math.max(1, Math.ceil(((worthAt - pace.attemptMs) * pace.sampled) / pace.running));
}
