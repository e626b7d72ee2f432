import { parseDuration } from './duration.ts';
import type { MachineDefinition, ProviderName, Script } from './types.ts';

/** A machine definition as written, in a pipeline's activity or a config's `[pools.NAME]`. */
export interface MachineDoc {
  provider: ProviderName;
  max_workers: number;
  max_hourly_usd?: number | undefined;
  idle_timeout: string;
  max_lifetime?: string | undefined;
  prepare?: string | undefined;
  init?: string | undefined;
  cleanup?: string | undefined;
  instance?: Record<string, unknown> | undefined;
}

/** A machine definition with its durations in milliseconds and its scripts made by `script`. */
export function machineDefinition(doc: MachineDoc, script: (text: string) => Script): MachineDefinition {
  return {
    provider: doc.provider,
    maxWorkers: doc.max_workers,
    ...(doc.max_hourly_usd !== undefined && { maxHourlyUsd: doc.max_hourly_usd }),
    idleTimeoutMs: parseDuration(doc.idle_timeout),
    ...(doc.max_lifetime !== undefined && { maxLifetimeMs: parseDuration(doc.max_lifetime) }),
    ...(doc.prepare !== undefined && { prepare: script(doc.prepare) }),
    ...(doc.init !== undefined && { init: script(doc.init) }),
    ...(doc.cleanup !== undefined && { cleanup: script(doc.cleanup) }),
    ...(doc.instance !== undefined && { instance: doc.instance }),
  };
}
