import type { Command } from 'commander';
import { startEmbedded } from '../coordinator/embedded.ts';
import { resolveRunId } from '../store/run-report.ts';
import { pipelineOfRun } from '../store/run-rows.ts';
import { serverOf } from './api-client.ts';
import { watchRemoteRun } from './run-remote.ts';
import { commandCoordinatorOptions } from './local-state.ts';
import { UsageError } from './usage-error.ts';
import { watchLocalRun } from './watch-local.ts';

interface RerunOptions { server?: string; token?: string; db?: string; json?: boolean }

export function registerRerun(program: Command): void {
  program.command('rerun')
    .description('run the failed, blocked and cancelled tasks of a finished run again, in the same run')
    .argument('<run>', 'a run id (or, locally, a unique prefix of one)')
    .option('--json', 'print the run report as JSON on stdout (progress goes to stderr)')
    .option('--server <url>', 'the run is on this server (default: $SLIPWAY_SERVER)')
    .option('--token <token>', 'a server token with the submit scope (default: $SLIPWAY_TOKEN, or the admin token of a server on this machine)')
    .option('--db <path>', 'the local store (default: the state directory\'s)')
    .addHelpText('after', '\nAttempts so far are kept; each task rerun gets its whole retry policy again; done_if is checked again.\nExit codes as for `slipway run`.')
    .action(async (run: string, options: RerunOptions) => {
      const api = serverOf(options);
      if (api) {
        if (!/^r-[0-9a-f]{8}$/.test(run)) throw new UsageError(`'${run}' is not a run id (they look like r-3f2a9c1b)`);
        const { run: rerun, since } = await api.json<{ run: { id: string; pipeline: string }; since: number }>('POST', `/api/v1/runs/${run}/rerun`);
        process.exitCode = await watchRemoteRun(api, rerun.id, rerun.pipeline, Boolean(options.json), since);
        return;
      }
      const embedded = await startEmbedded(await commandCoordinatorOptions(options.db));
      let runId: string;
      let pipeline: string;
      try {
        runId = await resolveRunId(embedded.store.db, run);
        pipeline = await pipelineOfRun(embedded.store.db, runId);
      } catch (error) {
        await embedded.close();
        throw new UsageError((error as Error).message);
      }
      process.exitCode = await watchLocalRun(embedded, pipeline, Boolean(options.json), async () => {
        const result = await embedded.coordinator.rerun(runId);
        if (result.kind === 'refused') throw new UsageError(result.reason);
        return runId;
      });
    });
}
