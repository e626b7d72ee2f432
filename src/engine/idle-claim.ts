import type { WorkerSettings } from '../protocol/worker.ts';

/**
 * What a worker with nothing in hand does next, idle for `idleForMs`: stop, past its
 * idle_timeout; or claim, waiting at most until its idle_timeout (and one heartbeat
 * interval, so a claim never outlasts a coordinator's patience). A pool that keeps workers
 * warm decides for itself whether one past its idle_timeout may stop: such a worker claims
 * `pastIdle` and is told. The agent and the simulator's agents both follow this.
 */
export type IdleStep = { kind: 'stop' } | { kind: 'claim'; waitMs: number; pastIdle: boolean };

export function idleStep(settings: Pick<WorkerSettings, 'idle_timeout_ms' | 'keep_warm' | 'heartbeat_interval_ms'>, idleForMs: number): IdleStep {
  const idleLeft = settings.idle_timeout_ms - idleForMs;
  const pastIdle = idleLeft <= 0;
  if (pastIdle && !settings.keep_warm) return { kind: 'stop' };
  return { kind: 'claim', waitMs: pastIdle ? settings.heartbeat_interval_ms : Math.min(idleLeft, settings.heartbeat_interval_ms), pastIdle };
}

/**
 * How long a worker that just ended an attempt waits, in its finish, for the next one: as
 * its first claim would (none past its idle_timeout: that claim asks whether it may stop).
 */
export function nextWaitMs(settings: Pick<WorkerSettings, 'idle_timeout_ms' | 'keep_warm' | 'heartbeat_interval_ms'>): number {
  const step = idleStep(settings, 0);
  return step.kind === 'claim' && !step.pastIdle ? step.waitMs : 0;
}
