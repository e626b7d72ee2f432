import { Option, type Command } from 'commander';
import { ensureAdminToken } from '../config/admin-token.ts';
import { stateDir } from '../config/paths.ts';
import { startEmbedded } from '../coordinator/embedded.ts';
import { parseDuration } from '../pipeline/duration.ts';
import { UsageError } from './usage-error.ts';

interface ServerOptions { listen: string; db?: string; healthInterval: string; heartbeatTimeout: string; giveUpAfter: string; anonymousRead?: boolean }

export function registerServer(program: Command): void {
  program.command('server')
    .description('run the coordinator as a service: the API, the web UI and the workers of every submitted run')
    .option('--listen <host:port>', 'where to listen', '127.0.0.1:7070')
    .option('--db <path>', 'the store (default: slipway.db in the state directory)')
    .addOption(new Option('--health-interval <duration>', 'how often the health check heals pools and finds lost workers').default('5m'))
    .addOption(new Option('--heartbeat-timeout <duration>', 'a worker not heard from for this long is lost; its attempt is retried').default('60s'))
    .addOption(new Option('--give-up-after <duration>', 'an activity whose workers cannot come up for this long fails its queued tasks').default('15m'))
    .option('--anonymous-read', 'let requests without a token read runs, logs and workers (never act on them)')
    .action(async (options: ServerOptions) => {
      const { host, port } = parseListen(options.listen);
      const settings = {
        healthIntervalMs: duration('--health-interval', options.healthInterval),
        heartbeatTimeoutMs: duration('--heartbeat-timeout', options.heartbeatTimeout),
        startGiveUpMs: duration('--give-up-after', options.giveUpAfter),
      };
      const state = stateDir();
      const embedded = await startEmbedded({ stateDir: state, dbPath: options.db, host, port, settings, anonymousRead: Boolean(options.anonymousRead) }).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'EADDRINUSE') throw new UsageError(`${options.listen} is already in use: is another server running? (--listen HOST:PORT to choose)`);
        throw error;
      });
      const admin = await ensureAdminToken(embedded.store.db, state, Date.now());
      process.stdout.write([
        `slipway server listening on ${embedded.listening.url}`,
        admin.created ? `created an admin token in ${admin.path} (readable by you only)` : `admin token: ${admin.path}`,
        `web UI: ${embedded.listening.url}/#token=<the token>`,
        '',
      ].join('\n'));
      // Runs left running by an earlier server get their workers back now, not at the first interval.
      await embedded.coordinator.healthCheck();
      await new Promise<void>((resolve) => {
        const stop = (): void => { process.stdout.write('stopping\n'); resolve(); };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
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

function parseListen(listen: string): { host: string; port: number } {
  const match = listen.match(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/);
  const port = Number(match?.[2]);
  if (!match || port > 65535) throw new UsageError(`--listen takes HOST:PORT, such as 127.0.0.1:7070, not '${listen}'`);
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}
