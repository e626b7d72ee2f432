import { existsSync } from 'node:fs';
import type { ArchiveLimits } from '../archive/check.ts';
import { loadConfig } from '../config/load.ts';
import { operatorPools, providerCaps } from '../config/pools.ts';
import type { SlipwayConfig } from '../config/schema.ts';
import { stateDir } from '../config/paths.ts';
import { retentionPolicy } from '../config/retention.ts';
import { parseDuration } from '../pipeline/duration.ts';
import { configuredProviders } from '../providers/configured.ts';
import { isPostgresUrl, openStore, type Store } from '../store/store.ts';
import { UsageError } from './usage-error.ts';

/**
 * Where this machine's store is: --db (a path or a postgres:// URL), else
 * SLIPWAY_DATABASE_URL, else the config's [store] url, else its [store] path.
 */
export function storeLocation(db: string | undefined, config: SlipwayConfig = loadConfig()): string {
  return db ?? (process.env.SLIPWAY_DATABASE_URL || undefined) ?? config.store.url ?? config.store.path;
}

/** Whether a store may be there: a SQLite file that exists, or any database URL (its server says). */
export function mayHoldStore(location: string): boolean {
  return isPostgresUrl(location) || existsSync(location);
}

/** The store that `slipway run` writes, for a command that reads or changes it. */
export async function openLocalStore(db: string | undefined): Promise<Store> {
  const location = storeLocation(db);
  if (!mayHoldStore(location)) throw new UsageError(`no store at ${location}: nothing has run here yet (or pass --db PATH)`);
  return openStore(location);
}

/** How the user invoked Slipway, for commands we print back to them. */
export function selfCommand(): string {
  return process.env.SLIPWAY_COMMAND || 'slipway';
}

/** The store, local workers and other providers of this machine as the config sets them; `--db` wins. */
export async function localCoordinatorOptions(dbPath: string | undefined) {
  const config = loadConfig();
  return {
    stateDir: stateDir(),
    dbPath: storeLocation(dbPath, config),
    busyTimeoutMs: parseDuration(config.store.busy_timeout),
    workRoot: config.providers.local.work_dir,
    localHourlyUsd: config.providers.local.hourly_usd,
    ssh: config.providers.ssh,
    windowsNode: config.providers.ec2.windows_node,
    providers: await configuredProviders(config),
  };
}

/**
 * A coordinator for one command (`slipway run`, `rerun`) rather than a server: it looks
 * after its own run only (a server may share the store), and its agents give up soon on
 * it once it is gone, since nothing will restart it.
 */
export async function commandCoordinatorOptions(dbPath: string | undefined, heartbeatTimeoutMs = 60_000) {
  const config = loadConfig();
  return {
    ...await localCoordinatorOptions(dbPath), agentReconnectMs: heartbeatTimeoutMs,
    settings: { heartbeatTimeoutMs, ownRunsOnly: true, ...configuredSettings(config) },
  };
}

/** What every coordinator of this machine, a server's or a command's, takes from the config. */
export function configuredSettings(config: SlipwayConfig) {
  return {
    archiveLimits: configuredArchiveLimits(config),
    ...configuredPools(config),
    trySecrets: config.secrets.try,
    cacheBytesPerScope: config.caches.max_bytes_per_repository,
    artifactsExpireMs: retentionPolicy(config.retention).artifactsMs,
    blobs: config.blobs,
  };
}

/** The operator's pools (`[pools.NAME]`) and each provider's fleet-wide cap (`[providers.X] max_workers`). */
export function configuredPools(config: SlipwayConfig) {
  return { pools: operatorPools(config), providerCaps: providerCaps(config) };
}

/** The [server] limits on source archives: a server's uploads and every run's workers are held to them. */
export function configuredArchiveLimits(config: SlipwayConfig): ArchiveLimits {
  return { maxUnpackedBytes: config.server.max_unpacked_bytes, maxMembers: config.server.max_archive_members };
}
