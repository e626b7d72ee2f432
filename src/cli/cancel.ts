import type { Command } from 'commander';
import { serverOf } from './api-client.ts';
import { UsageError } from './usage-error.ts';

export function registerCancel(program: Command): void {
  program.command('cancel')
    .description('cancel a run on a server: its running tasks are killed, its workers stop')
    .argument('<run>', 'the run id')
    .option('--server <url>', 'the server (default: $SLIPWAY_SERVER)')
    .option('--token <token>', 'a token with the submit scope (default: $SLIPWAY_TOKEN, or the admin token of a server on this machine)')
    .addHelpText('after', '\nA run started by `slipway run` without a server is cancelled with Ctrl-C in its terminal.')
    .action(async (run: string, options: { server?: string; token?: string }) => {
      const api = serverOf(options);
      if (!api) throw new UsageError('cancel talks to a server: give --server URL or set SLIPWAY_SERVER');
      if (!/^r-[0-9a-f]{8}$/.test(run)) throw new UsageError(`'${run}' is not a run id (they look like r-3f2a9c1b)`);
      const { run: cancelled } = await api.json<{ run: { id: string; status: string } }>('POST', `/api/v1/runs/${run}/cancel`);
      process.stdout.write(`run ${cancelled.id} ${cancelled.status}\n`);
    });
}
