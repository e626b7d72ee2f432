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

/**
 * DESIGN: start min(max_workers - live, queued - idle - starting) workers.
 *
 * With `rampUp`, for workers that share the coordinator's machine (local ones), no more
 * start at once than are already up (one when none is), so the pool doubles as workers
 * come up: starting eight agents at once on a small machine delays every one of them,
 * while the first one up could have done the work. Machines of their own start at once.
 */
export function workersToStart(pool: PoolState, options: { rampUp?: boolean } = {}): number {
  const live = pool.starting + pool.idle + pool.busy + pool.draining;
  const wanted = Math.min(pool.maxWorkers - live, pool.queued - pool.idle - pool.starting);
  const ramp = options.rampUp ? Math.max(1, pool.idle + pool.busy) - pool.starting : wanted;
  return Math.max(0, Math.min(wanted, ramp));
}
