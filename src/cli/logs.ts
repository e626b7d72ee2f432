import { pipeline } from 'node:stream/promises';
import { setTimeout } from 'node:timers/promises';
import type { Command } from 'commander';
import type { ReportAttempt, RunReport } from '../engine/report.ts';
import { isFinal } from '../engine/task-state.ts';
import { printable } from './format.ts';
import { openRunSource, type RunSource, type SourceOptions } from './run-source.ts';
import { readingOptions } from './show.ts';
import { UsageError } from './usage-error.ts';

interface LogsOptions extends SourceOptions { worker?: string; attempt?: string; follow?: boolean }

/** How often a followed task is looked at for its next attempt. */
const nextAttemptLookMs = 1_000;

export function registerLogs(program: Command): void {
  readingOptions(program.command('logs')
    .description('print the logs of a run: every attempt, one task\'s attempts, or one worker\'s whole log')
    .argument('<run>', 'a run id, or a unique prefix of one')
    .argument('[task]', 'a task id such as \'build[version=1.0.0]\' (or a unique part of one)')
    .option('--attempt <n>', 'only this attempt of the task')
    .option('--worker <id-or-name>', 'the log of one worker (init, every task, cleanup), by id or by a name it had')
    .option('-f, --follow', 'print the task\'s output as it runs, attempt after attempt, until the task has ended'))
    .addHelpText('after', `
Examples:
  slipway logs r-3f2a                              every attempt of the run
  slipway logs r-3f2a 'build[version=1.0.0,config=debug]'
  slipway logs r-3f2a build --attempt 2            a unique part of a task id is enough
  slipway logs r-3f2a --worker w-91c2e0aa
  slipway logs r-3f2a test -f                      test's output as it runs, retries too`)
    .action(async (run: string, task: string | undefined, options: LogsOptions) => {
      if (options.follow && (task === undefined || options.attempt !== undefined || options.worker !== undefined)) {
        throw new UsageError('--follow follows one task, every attempt of it: name the task, without --attempt or --worker');
      }
      const source = await openRunSource(options);
      try {
        const runId = await source.resolveRun(run);
        if (options.worker) {
          await pipeline(await source.workerLog(runId, await source.findWorker(runId, options.worker)), process.stdout, { end: false });
          return;
        }
        if (options.follow && task !== undefined) {
          await followTask(source, runId, task);
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
          process.stdout.write(attemptHeader(key, attempt));
          await pipeline(await source.attemptLog(runId, attempt.id), process.stdout, { end: false });
        }
      } finally {
        await source.close();
      }
    });
}

/** The header is ours to make safe; the log after it is the script's own output. */
function attemptHeader(task: string, attempt: ReportAttempt): string {
  return `${printable(`==> ${task} attempt ${attempt.number} on ${attempt.worker}: ${attempt.outcome ?? 'running'} <==`)}\n`;
}

/**
 * Prints a task's attempts as they run, each ended one whole, one in flight as it grows,
 * and looks for the next (a retry, a rerun's) until the task has ended and every attempt
 * of it was printed.
 */
async function followTask(source: RunSource, runId: string, task: string): Promise<void> {
  const taskId = findTask(await source.report(runId), task).id;
  const printed = new Set<string>();
  for (;;) {
    const followed = await source.task(runId, taskId);
    const unprinted = followed.attempts.filter((attempt) => !printed.has(attempt.id));
    for (const attempt of unprinted) {
      printed.add(attempt.id);
      process.stdout.write(attemptHeader(followed.id, attempt));
      if (attempt.outcome !== null) {
        await pipeline(await source.attemptLog(runId, attempt.id), process.stdout, { end: false });
        continue;
      }
      for await (const text of source.followAttemptLog(runId, attempt.id)) process.stdout.write(text);
      const ended = (await source.task(runId, taskId)).attempts.find((a) => a.id === attempt.id);
      const how = ended?.outcome ? `${ended.outcome}${ended.error ? ` (${ended.error})` : ''}` : 'ended';
      process.stdout.write(`${printable(`==> ${followed.id} attempt ${attempt.number}: ${how} <==`)}\n`);
    }
    if (unprinted.length === 0 && isFinal(followed.status)) {
      // Skipped, blocked, cancelled before it ran: nothing was printed, which needs saying.
      if (printed.size === 0) process.stderr.write(`${printable(`task ${followed.id} is ${followed.status}: it ran no attempt`)}\n`);
      return;
    }
    if (unprinted.length === 0) await setTimeout(nextAttemptLookMs);
  }
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
