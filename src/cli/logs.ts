import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import type { RunReport } from '../engine/report.ts';
import { printable } from './format.ts';
import { openRunSource, type SourceOptions } from './run-source.ts';
import { readingOptions } from './show.ts';
import { UsageError } from './usage-error.ts';

interface LogsOptions extends SourceOptions { worker?: string; attempt?: string }

export function registerLogs(program: Command): void {
  readingOptions(program.command('logs')
    .description('print the logs of a run: every attempt, one task\'s attempts, or one worker\'s whole log')
    .argument('<run>', 'a run id, or a unique prefix of one')
    .argument('[task]', 'a task id such as \'build[version=1.0.0]\' (or a unique part of one)')
    .option('--attempt <n>', 'only this attempt of the task')
    .option('--worker <id-or-name>', 'the log of one worker (init, every task, cleanup), by id or by a name it had'))
    .addHelpText('after', `
Examples:
  slipway logs r-3f2a                              every attempt of the run
  slipway logs r-3f2a 'build[version=1.0.0,config=debug]'
  slipway logs r-3f2a build --attempt 2            a unique part of a task id is enough
  slipway logs r-3f2a --worker w-91c2e0aa`)
    .action(async (run: string, task: string | undefined, options: LogsOptions) => {
      const source = await openRunSource(options);
      try {
        const runId = await source.resolveRun(run);
        if (options.worker) {
          await pipeline(await source.workerLog(runId, await source.findWorker(runId, options.worker)), process.stdout, { end: false });
          return;
        }
        const report = await source.report(runId);
        const tasks = task === undefined ? report.tasks : [findTask(report, task)];
        const attempts = tasks.flatMap((t) => t.attempts.map((attempt) => ({ task: t.id, attempt })))
          .filter(({ attempt }) => options.attempt === undefined || attempt.number === Number(options.attempt));
        if (attempts.length === 0) {
          throw new UsageError(task === undefined ? `run ${runId} has no attempts yet` : `task ${tasks[0]!.id} has no attempts${options.attempt ? ` numbered ${options.attempt}` : ''}`);
        }
        for (const { task: key, attempt } of attempts) {
          // The header is ours to make safe; the log after it is the script's own output.
          process.stdout.write(`${printable(`==> ${key} attempt ${attempt.number} on ${attempt.worker}: ${attempt.outcome ?? 'running'} <==`)}\n`);
          await pipeline(await source.attemptLog(runId, attempt.id), process.stdout, { end: false });
        }
      } finally {
        await source.close();
      }
    });
}

/** A task by its id, or by a part of it that only it has. */
export function findTask(report: RunReport, task: string) {
  const exact = report.tasks.find((t) => t.id === task);
  if (exact) return exact;
  const matches = report.tasks.filter((t) => t.id.includes(task));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new UsageError(`run ${report.run.id} has no task matching '${task}'`);
  throw new UsageError(`'${task}' matches ${matches.length} tasks: ${matches.slice(0, 5).map((t) => t.id).join(', ')}${matches.length > 5 ? ', …' : ''}`);
}
