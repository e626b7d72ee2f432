import { join } from 'node:path';
import { createApp } from '../api/app.ts';
import { listen, type Listening } from '../api/http-server.ts';
import type { ServerTls } from '../api/server-certificate.ts';
import { coordinatorUrls, type CoordinatorUrls } from '../api/worker-url.ts';
import { systemClock } from '../engine/clock.ts';
import { providerRetry } from '../engine/retry.ts';
import { LocalProvider } from '../providers/local.ts';
import { providerLifecycle, type Provider, type ProviderLifecycle } from '../providers/provider.ts';
import type { RunnerUser } from '../providers/runner-user.ts';
import { SshProvider } from '../providers/ssh/ssh-provider.ts';
import type { SlipwayConfig } from '../config/schema.ts';
import { liveMachinesOf } from '../store/machines.ts';
import { openStore, type Store } from '../store/store.ts';
import { defaultStorePath, ensurePrivateDir } from '../config/paths.ts';
import { defaultTryExpiryMs, Mirrors, type MirrorSettings } from '../vcs/mirrors.ts';
import { defaultRetention, type RetentionPolicy } from '../config/retention.ts';
import { Coordinator, type CoordinatorSettings } from './coordinator.ts';
import { GarbageCollector, type ImageExpiry } from './retention.ts';

export interface EmbeddedOptions {
  stateDir: string;
  /** The store: a SQLite file's path or a postgres:// URL (default: slipway.db in the state directory). */
  dbPath?: string;
  /** How long a write waits for another process's lock on the store. */
  busyTimeoutMs?: number;
  /** Where local workers' directories go (default: workers/ in the state directory). */
  workRoot?: string;
  /** What one local worker costs per hour (`[providers.local] hourly_usd`), if anything. */
  localHourlyUsd?: number | undefined;
  /** How long local agents keep trying to reach this coordinator if it goes away. */
  agentReconnectMs?: number;
  /** The unprivileged user local agents run as (a server started as root). */
  runAs?: RunnerUser;
  host?: string;
  port?: number;
  /** The URL machines elsewhere reach this coordinator at (default: worked out from where it listens). */
  publicUrl?: string;
  /** Serve HTTPS with this certificate, which every agent is given to trust alone. */
  tls?: ServerTls;
  /** Machines elsewhere may be given a plain http:// URL ([server] plain_http_workers). */
  plainHttpWorkers?: boolean;
  settings?: Partial<Omit<CoordinatorSettings, 'stateDir'>>;
  /** Let requests without a token read. */
  anonymousRead?: boolean;
  /** The [providers.ssh] section, paths resolved: its hosts run the activities that say `provider: ssh`. */
  ssh?: SlipwayConfig['providers']['ssh'];
  /** A Windows node.exe for the coordinator to serve ([providers.ec2] windows_node). */
  windowsNode?: string;
  /** Puts something between the coordinator and the local provider (fault injection). */
  wrapLocal?: (local: LocalProvider) => Provider;
  /** Providers besides local (from the config). */
  providers?: ProviderLifecycle[];
  /** How long tries are kept and which file:// remotes may be fetched (`[server] try_expiry`, `file_remotes`). */
  mirrors?: Partial<Omit<MirrorSettings, 'root'>>;
  /** What expires (`[retention]`), EC2 images' expiry when EC2 is set up, and how often a server collects (default hourly). */
  retention?: { policy?: RetentionPolicy; images?: ImageExpiry | undefined; intervalMs?: number };
}

/** How often a server deletes what expired. */
export const retentionIntervalMs = 3_600_000;

export interface Embedded {
  coordinator: Coordinator;
  store: Store;
  local: LocalProvider;
  listening: Listening;
  /** Where local agents and machines elsewhere reach the coordinator. */
  urls: CoordinatorUrls;
  close(): Promise<void>;
}

/**
 * The same coordinator a server runs, in this process, with local workers: what
 * `slipway run FILE` uses. Agents reach it over loopback HTTP like any remote worker.
 */
export async function startEmbedded(options: EmbeddedOptions): Promise<Embedded> {
  ensurePrivateDir(options.stateDir);
  const store = await openStore(options.dbPath ?? defaultStorePath(options.stateDir), { writable: true, busyTimeoutMs: options.busyTimeoutMs });
  const local = new LocalProvider({ workRoot: options.workRoot ?? join(options.stateDir, 'workers'), agentReconnectMs: options.agentReconnectMs, runAs: options.runAs, hourlyUsd: options.localHourlyUsd });
  const settings: CoordinatorSettings = {
    stateDir: options.stateDir,
    heartbeatTimeoutMs: 60_000,
    healthIntervalMs: 2_000,
    startTimeoutMs: 120_000,
    providerRetry,
    ...options.settings,
  };
  const ssh = options.ssh && options.ssh.hosts.length > 0
    ? new SshProvider({ hosts: options.ssh.hosts, knownHosts: options.ssh.known_hosts, liveMachines: () => liveMachinesOf(store.db, 'ssh') })
    : undefined;
  const providers = [providerLifecycle(options.wrapLocal ? options.wrapLocal(local) : local), ...(ssh ? [providerLifecycle(ssh)] : []), ...options.providers ?? []];
  const coordinator = new Coordinator(store, systemClock, settings, providers);
  const mirrors = new Mirrors({ root: join(options.stateDir, 'mirrors'), tryExpiryMs: defaultTryExpiryMs, fileRemotes: [], ...options.mirrors });
  const trust = options.tls && { pin: options.tls.pin, certificate: options.tls.certificate };
  // Retention is the server's alone, as expired tries are (below).
  const collector = settings.ownRunsOnly ? undefined : new GarbageCollector({
    store, stateDir: options.stateDir, policy: options.retention?.policy ?? defaultRetention, blobs: coordinator.artifacts.blobs,
    clock: systemClock, images: options.retention?.images,
  });
  const app = createApp(coordinator, store.db, { anonymousRead: options.anonymousRead ?? false }, { startTimeoutMs: settings.startTimeoutMs, clock: systemClock }, { windowsNode: options.windowsNode, trust }, mirrors, collector);
  const listening = await listen(app, options.host ?? '127.0.0.1', options.port ?? 0, options.tls);
  const urls = { ...coordinatorUrls(listening.url, options.publicUrl), trust, plainHttpWorkers: options.plainHttpWorkers };
  coordinator.start(urls);
  // Expired tries go as often as the health check runs, collected by the server alone: a
  // `slipway run` on the same state directory must not prune a mirror while the server writes to it.
  const collecting = settings.ownRunsOnly ? undefined : setInterval(() => {
    mirrors.collect(Date.now()).catch((error: Error) => coordinator.reportFault('collecting expired tries', error));
  }, settings.healthIntervalMs);
  collecting?.unref();
  // Once now and then hourly, never awaited: a request does not wait on a collection.
  const collect = () => collector?.collect(false).catch((error: Error) => coordinator.reportFault('collecting expired runs and files', error));
  void collect();
  const retaining = collector && setInterval(collect, options.retention?.intervalMs ?? retentionIntervalMs);
  retaining?.unref();
  return {
    coordinator, store, local, listening, urls,
    async close() {
      clearInterval(collecting);
      clearInterval(retaining);
      await collector?.idle();
      await coordinator.close();
      ssh?.close();
      await listening.close();
      await store.close();
      local.release();
    },
  };
}
