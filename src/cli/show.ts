import type { Command } from 'commander';
import { listRuns, resolveRunId, runReport } from '../store/run-report.ts';
import { colorEnabled } from './format.ts';
import { openLocalStore, selfCommand } from './local-state.ts';
import { renderRunList, renderSummary } from './summary.ts';
import { UsageError } from './usage-error.ts';

export function registerShow(program: Command): void {
  program.command('runs')
    .description('list past runs, newest first')
    .option('--json', 'print an array of run objects')
    .option('--limit <n>', 'how many runs', '20')
    .option('--db <path>', 'the store to read (default: the state directory\'s)')
    .action(async (options: { json?: boolean; limit: string; db?: string }) => {
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit takes a positive whole number, not '${options.limit}'`);
      const store = await openLocalStore(options.db);
      try {
        const runs = await listRuns(store.db, limit);
        process.stdout.write(options.json ? `${JSON.stringify(runs, null, 2)}\n` : renderRunList(runs, { color: colorEnabled(process.stdout) }));
      } finally {
        await store.close();
      }
    });

  program.command('show')
    .description('show the report of a run: every task, its attempts, and every failure')
    .argument('<run>', 'a run id, or a unique prefix of one')
    .option('--json', 'print the report as JSON (the shape of `slipway run --json`)')
    .option('--db <path>', 'the store to read (default: the state directory\'s)')
    .action(async (run: string, options: { json?: boolean; db?: string }) => {
      const store = await openLocalStore(options.db);
      try {
        const report = await runReport(store.db, await resolveRunId(store.db, run).catch((e: Error) => { throw new UsageError(e.message); }));
        process.stdout.write(options.json
          ? `${JSON.stringify(report, null, 2)}\n`
          : renderSummary(report, { color: colorEnabled(process.stdout), logsCommand: (task) => `${selfCommand()} logs ${report.run.id} '${task}'` }));
      } finally {
        await store.close();
      }
    });
}
