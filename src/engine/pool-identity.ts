import { createHash } from 'node:crypto';
import type { ProviderName } from '../pipeline/types.ts';

/** What makes workers interchangeable: any worker of a pool may run any task of it. */
export interface PoolDefinition {
  /**
   * The activity's name. An activity's max_workers is also a limit on how much of it runs
   * at once (a `deploy` activity of one worker runs one deploy at a time), so two activities
   * of one pipeline keep pools of their own even when their machines are alike.
   */
  activity: string;
  provider: ProviderName;
  /** The provider's machine settings. */
  instance?: Record<string, unknown>;
  /** The text of each worker script (a file script read from its run's tree). */
  prepare?: string;
  init?: string;
  cleanup?: string;
  /**
   * Where the pool's workers may serve from: a command's own coordinator (`slipway run`)
   * serves only its own runs, as it exits when they end; a server's runs share one scope.
   */
  scope?: string;
}

/**
 * The pool's id: the same for every activity of every run with the same definition, so
 * their tasks share workers. Keys are sorted so that the order they were written in does
 * not split a pool.
 */
export function poolIdentity(definition: PoolDefinition): string {
  const digest = createHash('sha256').update(canonical(definition)).digest('hex');
  return `p-${digest.slice(0, 16)}`;
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The scope of a server's runs with real workers: the fleet's. */
export const FLEET_SCOPE = 'fleet/real';

/**
 * The id of an operator's pool (`[pools.NAME]`): its name, the same for every run that
 * names it whatever the pipeline, so they share its workers. Outside the fleet's scope (a
 * `slipway run`'s own coordinator, fake workers) the scope is part of it, as for any pool.
 */
export function operatorPoolId(name: string, scope: string): string {
  return scope === FLEET_SCOPE ? `pool:${name}` : `pool:${name}@${scope}`;
}

/** The name of the operator's pool a pool id is, in any scope. */
export function operatorPoolName(poolId: string): string | undefined {
  return /^pool:([^@]+)(?:@.*)?$/.exec(poolId)?.[1];
}

/**
 * The operator's pool a pool id is, when it is one of the fleet's: its workers outlive the
 * runs they serve (they stop when idle, and min_idle keeps some warm), while any other pool's
 * workers are told to stop when no running run uses it any more.
 */
export function fleetPoolName(poolId: string): string | undefined {
  const match = /^pool:([^@]+)$/.exec(poolId);
  return match?.[1];
}
