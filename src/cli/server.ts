import type { Command } from 'commander';
import { ensureAdminToken } from '../config/admin-token.ts';
import { isPublicUrl, parseListen } from '../config/listen.ts';
import { loadConfig } from '../config/load.ts';
import { isLoopbackUrl, plainHttpRefusal } from '../api/worker-url.ts';
import { startEmbedded } from '../coordinator/embedded.ts';
import { retentionPolicy } from '../config/retention.ts';
import { configuredImageExpiry } from '../providers/configured.ts';
import { parseDuration } from '../pipeline/duration.ts';
import { configuredSettings, localCoordinatorOptions } from './local-state.ts';
import { serverRunner } from './server-runner.ts';
import { serverTls, tlsLines } from './server-tls.ts';
import { UsageError } from './usage-error.ts';

interface ServerOptions { listen?: string; publicUrl?: string; db?: string; healthInterval?: string; heartbeatTimeout?: string; giveUpAfter?: string; anonymousRead?: boolean }

/** How long a stop may take before the server exits anyway: within what systemd and Kubernetes give by default. */
const stopWithinMs = 8_000;

export function registerServer(program: Command): void {
  program.command('server')
    .description('run the coordinator as a service: the API, the web UI and the workers of every submitted run')
    .option('--listen <host:port>', 'where to listen (default: [server] listen, 127.0.0.1:7070)')
    .option('--public-url <url>', 'the URL ssh hosts and EC2 instances reach this server at (default: [server] public_url, else where it listens)')
    .option('--db <path>', 'the store (default: [store] path, slipway.db in the state directory)')
    .option('--health-interval <duration>', 'how often the health check heals pools and finds lost workers (default: [server] health_interval, 5m)')
    .option('--heartbeat-timeout <duration>', 'a worker not heard from for this long is lost; its attempt is retried (default: [server] heartbeat_timeout, 60s)')
    .option('--give-up-after <duration>', 'an activity whose workers cannot come up for this long fails its queued tasks (default: [server] give_up_after, 15m)')
    .option('--anonymous-read', 'let requests without a token read runs, logs and workers, never act on them (default: [server] anonymous_read)')
    .option('--no-anonymous-read', 'require a token to read, whatever the config says')
    .addHelpText('after', `
Defaults come from the [server] and [store] tables of the config (slipway config path);
a flag overrides its key. An invalid config stops the server before it starts.`)
    .action(async (options: ServerOptions) => {
      const config = loadConfig();
      const listen = options.listen ?? config.server.listen;
      const { host, port } = parseListenFlag(listen);
      const settings = {
        healthIntervalMs: duration('--health-interval', options.healthInterval ?? config.server.health_interval),
        heartbeatTimeoutMs: duration('--heartbeat-timeout', options.heartbeatTimeout ?? config.server.heartbeat_timeout),
        startGiveUpMs: duration('--give-up-after', options.giveUpAfter ?? config.server.give_up_after),
        maxLogBytes: config.server.max_log_bytes,
        pipelinesMayDefinePools: config.server.pipelines_may_define_pools,
        ...configuredSettings(config),
      };
      const local = await localCoordinatorOptions(options.db);
      const state = local.stateDir;
      const anonymousRead = options.anonymousRead ?? config.server.anonymous_read;
      const publicUrl = options.publicUrl ?? config.server.public_url;
      if (publicUrl !== undefined && !isPublicUrl(publicUrl)) throw new UsageError(`--public-url takes an http:// or https:// URL, not '${publicUrl}'`);
      const runner = serverRunner(config.server.run_as, state, local);
      const mirrors = { tryExpiryMs: duration('[server] try_expiry', config.server.try_expiry), fileRemotes: config.server.file_remotes };
      const retention = { policy: retentionPolicy(config.retention), images: await configuredImageExpiry(config) };
      const tls = serverTls(config.server, host, publicUrl, state);
      const plainHttpWorkers = config.server.plain_http_workers;
      const embedded = await startEmbedded({ ...local, retention, runAs: runner.runAs, workRoot: runner.workRoot, host, port, settings, anonymousRead, publicUrl, mirrors, tls, plainHttpWorkers }).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'EADDRINUSE') throw new UsageError(`${listen} is already in use: is another server running? (--listen HOST:PORT, or [server] listen in the config, to choose)`);
        throw error;
      });
      try {
        await embedded.local.checkRunAs();
      } catch (error) {
        await embedded.close();
        throw error;
      }
      const admin = await ensureAdminToken(embedded.store.db, state, Date.now());
      process.stdout.write([
        `slipway server listening on ${embedded.listening.url}`,
        admin.created ? `created an admin token in ${admin.path} (readable by you only)` : `admin token: ${admin.path}`,
        `web UI: ${embedded.listening.url}/#token=<the token>`,
        runner.note,
        ...tls ? tlsLines(tls, state) : [],
        `workers on other machines reach it at ${embedded.urls.remote}${isLoopbackUrl(embedded.urls.remote) ? ' (this machine only: --listen 0.0.0.0:PORT or --public-url URL for ssh hosts and EC2)' : ''}`,
        ...[plainHttpRefusal(embedded.urls)].filter((refusal) => refusal !== undefined).map((refusal) => `  (none will be started: ${refusal})`),
        '',
      ].join('\n'));
      // Runs left running by an earlier server get their workers back now, not at the first interval.
      await embedded.coordinator.healthCheck();
      // A closed terminal (SIGHUP) stops it as a service manager does: killed, it would leave
      // its local workers running, to be found again only by the next server.
      await new Promise<void>((resolve) => {
        const stop = (): void => { process.stdout.write('stopping\n'); resolve(); };
        for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, stop);
      });
      // Whatever hangs (a host that does not answer, a request that does not end), a service
      // manager's stop must not wait on it: what is left is found again at the next start.
      setTimeout(() => {
        process.stderr.write(`slipway server: not stopped within ${stopWithinMs / 1000}s; exiting anyway\n`);
        process.exit(1);
      }, stopWithinMs).unref();
      await embedded.close();
    });
}

function duration(flag: string, text: string): number {
  try {
    return parseDuration(text);
  } catch (error) {
    throw new UsageError(`${flag}: ${(error as Error).message}`);
  }
}

function parseListenFlag(listen: string): { host: string; port: number } {
  const parsed = parseListen(listen);
  if (!parsed) throw new UsageError(`--listen takes HOST:PORT, such as 127.0.0.1:7070, not '${listen}'`);
  return parsed;
}
