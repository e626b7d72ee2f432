import type { Command } from 'commander';
import { colorEnabled } from './format.ts';
import { selfCommand } from './local-state.ts';
import { openRunSource, type SourceOptions } from './run-source.ts';
import { revisionPrefix } from '../store/run-report.ts';
import { renderRunList, renderSummary } from './summary.ts';
import { UsageError } from './usage-error.ts';

/** The options every command that reads runs takes: this machine's store, or a server. */
export function readingOptions(command: Command): Command {
  return command
    .option('--server <url>', 'read from this server instead of the local store (default: $SLIPWAY_SERVER)')
    .option('--token <token>', 'the server token (default: $SLIPWAY_TOKEN, or the admin token of a server on this machine)')
    .option('--db <path>', 'the local store to read (default: the state directory\'s)');
}

export function registerShow(program: Command): void {
  readingOptions(program.command('runs')
    .description('list past runs, newest first')
    .option('--json', 'print an array of run objects (the report\'s `run`)')
    .option('--status <status>', 'only runs that ended so, or are running')
    .option('--revision <id>', 'only runs of this revision (its id or the start of it)')
    .option('--branch <name>', 'only runs of this git branch, hg bookmark or named branch')
    .option('--limit <n>', 'how many runs', '20'))
    .action(async (options: SourceOptions & { json?: boolean; limit: string; status?: string; revision?: string; branch?: string }) => {
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new UsageError(`--limit takes a whole number from 1 to 500, not '${options.limit}'`);
      const status = options.status;
      if (status !== undefined && !['running', 'succeeded', 'failed', 'cancelled'].includes(status)) {
        throw new UsageError(`--status takes running, succeeded, failed or cancelled, not '${status}'`);
      }
      const revision = options.revision?.toLowerCase();
      if (revision !== undefined && !revisionPrefix.test(revision)) throw new UsageError(`--revision takes a revision id or the start of one (hex digits), not '${options.revision}'`);
      const source = await openRunSource(options);
      try {
        const runs = await source.listRuns({ limit, status: status as 'running' | undefined, revision, branch: options.branch });
        process.stdout.write(options.json ? `${JSON.stringify(runs, null, 2)}\n` : renderRunList(runs, { color: colorEnabled(process.stdout) }));
      } finally {
        await source.close();
      }
    });

  readingOptions(program.command('show')
    .description('show the report of a run: every task, its attempts, and every failure')
    .argument('<run>', 'a run id, or a unique prefix of one')
    .option('--json', 'print the report as JSON (the shape of `slipway run --json`)'))
    .action(async (run: string, options: SourceOptions & { json?: boolean }) => {
      const source = await openRunSource(options);
      try {
        const report = await source.report(await source.resolveRun(run));
        process.stdout.write(options.json
          ? `${JSON.stringify(report, null, 2)}\n`
          : renderSummary(report, { color: colorEnabled(process.stdout), logsCommand: (task) => `${selfCommand()} logs ${report.run.id} '${task}'` }));
      } finally {
        await source.close();
      }
    });
}
