import { join } from 'node:path';
import type { Command } from 'commander';
import { Agent, ScriptExecutor } from '../agent/agent.ts';
import { ensurePrivateDir, stateDir } from '../config/paths.ts';
import { UsageError } from './usage-error.ts';

interface WorkerOptions { server: string; activity: string; token?: string; workDir?: string }

export function registerWorker(program: Command): void {
  program.command('worker')
    .description('serve one activity of a coordinator from this machine, until idle or told to stop')
    .requiredOption('--server <url>', 'the coordinator, e.g. http://127.0.0.1:7070')
    .requiredOption('--activity <name>', 'the activity whose tasks this worker runs')
    .option('--token <token>', 'a run\'s join token, or a server token with the submit scope (default: $SLIPWAY_TOKEN; prefer the variable: a flag shows in ps)')
    .addHelpText('after', `
With a run's join token (printed by slipway run --no-provision) the worker serves that run.
With a server token it serves the oldest running run that has tasks waiting for the activity.
It stops when idle for the activity's idle_timeout, after a failed task, or when told to.`)
    .option('--work-dir <dir>', 'where sources are cached and tasks run (default: under the state directory)')
    .action(async (options: WorkerOptions) => {
      const token = options.token ?? process.env.SLIPWAY_TOKEN;
      if (!token) throw new UsageError('a token is needed: set SLIPWAY_TOKEN to a run\'s join token (slipway run --no-provision prints it) or to a server token (slipway tokens create NAME --scope submit)');
      let server: URL;
      try {
        server = new URL(options.server);
      } catch {
        throw new UsageError(`--server takes a URL such as http://127.0.0.1:7070, not '${options.server}'`);
      }
      const workDir = ensurePrivateDir(options.workDir ?? join(stateDir(), 'workers', `manual-${process.pid}`));
      const agent = new Agent({
        server: server.href, token, activity: options.activity, executor: new ScriptExecutor(workDir),
        say: (line) => process.stderr.write(`${line}\n`),
        onName: (name) => { process.title = `slipway-worker ${name}`; },
      });
      const stop = (): void => agent.stop();
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      try {
        await agent.run();
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}
