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

/** DESIGN: start min(max_workers - live, queued - idle - starting) workers. */
export function workersToStart(pool: PoolState): number {
  const live = pool.starting + pool.idle + pool.busy + pool.draining;
  return Math.max(0, Math.min(pool.maxWorkers - live, pool.queued - pool.idle - pool.starting));
}
