import { join } from 'node:path';
import type { Command } from 'commander';
import { Agent, ScriptExecutor } from '../agent/agent.ts';
import { sealOrReexec, unreadableNodeCopy } from '../agent/sealed-from-tasks.ts';
import { ensurePrivateDir, stateDir } from '../config/paths.ts';
import { UsageError } from './usage-error.ts';
import { workerToken } from './worker-token.ts';

interface WorkerOptions { server: string; activity: string; token?: string; tokenFile?: string; workDir?: string }

export function registerWorker(program: Command): void {
  program.command('worker')
    .description('serve one activity of a coordinator from this machine, until idle or told to stop')
    .requiredOption('--server <url>', 'the coordinator, e.g. http://127.0.0.1:7070')
    .requiredOption('--activity <name>', 'the activity whose tasks this worker runs')
    .option('--token-file <path>', 'a file only you can read (chmod 600) whose first line is the token: the safest way to give it')
    .option('--token <token>', 'the token itself (default: $SLIPWAY_TOKEN); shows in ps while the worker starts, so prefer --token-file')
    .addHelpText('after', `
The token is a run's join token (printed by slipway run --no-provision): the worker serves
that run. Or a token with the worker scope (slipway tokens create NAME --scope worker): it
serves the oldest running run that has tasks waiting for the activity; such a token can
register workers and nothing else. A submit or read token is refused.

Tasks run as your user, as children of this process: they could read its command line
(/proc/PID/cmdline, which --token is on, and which ps shows to every user) and the
environment it was started with (/proc/PID/environ, SLIPWAY_TOKEN included, whatever the
process deletes later). So given --token or SLIPWAY_TOKEN, the worker re-executes itself
at once without either, handing the token over in a private file it removes on reading.
--token-file leaves nothing behind to begin with; it refuses a file others may read.
Its memory, where its credential lives, is closed to its tasks too: unless run as root, it
runs from a copy of node that you may execute but not read (made once, in runtime/ in the
state directory), and Linux keeps the memory and /proc files of such a process from the
user's other processes.

It stops when idle for the activity's idle_timeout, after a failed task, or when told to.`)
    .option('--work-dir <dir>', 'where sources are cached and tasks run (default: under the state directory)')
    .action(async (options: WorkerOptions) => {
      let server: URL;
      try {
        server = new URL(options.server);
      } catch {
        throw new UsageError(`--server takes a URL such as http://127.0.0.1:7070, not '${options.server}'`);
      }
      // Unless root, first re-executes from an unreadable copy of node, so tasks cannot read this process.
      sealOrReexec(() => unreadableNodeCopy(join(stateDir(), 'runtime')), (line) => process.stderr.write(`${line}\n`));
      const token = workerToken(options);
      const workDir = ensurePrivateDir(options.workDir ?? join(stateDir(), 'workers', `manual-${process.pid}`));
      const say = (line: string): void => void process.stderr.write(`${line}\n`);
      const agent = new Agent({
        server: server.href, token, activity: options.activity, executor: await ScriptExecutor.open(workDir, { say }),
        say,
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
