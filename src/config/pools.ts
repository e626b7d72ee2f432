/** The operator's pools and fleet-wide caps as the pipeline checker and the coordinator use them. */
import { parseDuration } from '../pipeline/duration.ts';
import type { OperatorPool, ProviderName, Script } from '../pipeline/types.ts';
import type { SlipwayConfig } from './schema.ts';

/** Every `[pools.NAME]` table, durations in milliseconds and scripts inline. */
export function operatorPools(config: SlipwayConfig): Record<string, OperatorPool> {
  const inline = (text: string | undefined): Script | undefined => (text === undefined ? undefined : { kind: 'inline', text });
  return Object.fromEntries(Object.entries(config.pools).map(([name, p]) => {
    const pool: OperatorPool = {
      provider: p.provider,
      maxWorkers: p.max_workers,
      minIdle: p.min_idle,
      idleTimeoutMs: parseDuration(p.idle_timeout),
      ...(p.max_lifetime !== undefined && { maxLifetimeMs: parseDuration(p.max_lifetime) }),
      ...(p.prepare !== undefined && { prepare: inline(p.prepare) }),
      ...(p.init !== undefined && { init: inline(p.init) }),
      ...(p.cleanup !== undefined && { cleanup: inline(p.cleanup) }),
      ...(p.instance !== undefined && { instance: p.instance }),
    };
    return [name, pool];
  }));
}

/** `[providers.X] max_workers` of the providers that have one: never more live workers on X, in all pools together. */
export function providerCaps(config: SlipwayConfig): Partial<Record<ProviderName, number>> {
  const caps: Partial<Record<ProviderName, number>> = {};
  for (const name of ['local', 'ssh', 'ec2'] as const) {
    const cap = config.providers[name].max_workers;
    if (cap !== undefined) caps[name] = cap;
  }
  return caps;
}
