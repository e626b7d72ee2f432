/** The operator's pools and fleet-wide caps as the pipeline checker and the coordinator use them. */
import { machineDefinition } from '../pipeline/machine-definition.ts';
import type { OperatorPool, ProviderName, Script } from '../pipeline/types.ts';
import type { SlipwayConfig } from './schema.ts';

/** Every `[pools.NAME]` table, durations in milliseconds and scripts inline. */
export function operatorPools(config: SlipwayConfig): Record<string, OperatorPool> {
  const inline = (text: string): Script => ({ kind: 'inline', text });
  return Object.fromEntries(Object.entries(config.pools).map(([name, p]) => [name, { ...machineDefinition(p, inline), minIdle: p.min_idle }]));
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
