/** The human forms of run reports: the end-of-run summary and the `slipway runs` list. */
import type { ReportAttempt, ReportFailure, ReportTask, RunReport, RunSource, TaskStatus } from '../engine/report.ts';
import { authorName } from '../util/author-name.ts';
import { repositoryName } from '../vcs/working-copy.ts';
import { formatUsd } from '../util/money.ts';
import { countStatuses, formatDuration, formatMatrix, paint, paintStatus, printable, table, truncate } from './format.ts';

export interface SummaryOptions {
  color: boolean;
  /** The command that shows a task's log, if there is one to point at. */
  logsCommand?: (taskId: string) => string;
}

/** Above this many tasks, the table shows per-step counts and only the tasks that need a look. */
const COMPACT_ABOVE = 40;
/** Errors are cut to this in tables; the failures section gives them whole. */
const ERROR_WIDTH = 60;
/** Outcomes first, bad news first, then what is still in flight. */
const COUNT_ORDER: TaskStatus[] = [
  'failed', 'blocked', 'cancelled', 'succeeded', 'skipped', 'running', 'checking', 'queued', 'waiting',
];
/** Tasks that ended well; a compact table leaves them out. */
const FINE = new Set<TaskStatus>(['succeeded', 'skipped']);

/** The end-of-run report, ending in a newline. */
export function renderSummary(report: RunReport, options: SummaryOptions): string {
  const { color } = options;
  const { run } = report;
  const took = span(run.started_at, run.finished_at);
  const source = sourceLine(run.source);
  const sections = [
    `run ${paint(color, 'bold', printable(run.id))} · pipeline ${printable(run.pipeline)} · ${paintStatus(color, run.status)}${took && ` · ${took}`}${cost(run.cost_usd, run.budget_usd)}${source && `\n${source}`}`,
    run.spend_cap === undefined ? '' : paint(color, 'yellow', `capped: ${printable(run.spend_cap)}`),
    run.cancel_reason === undefined ? '' : paint(color, 'yellow', printable(run.cancel_reason)),
    report.tasks.length > COMPACT_ABOVE ? compactTasks(report.tasks, color) : taskTable(report.tasks, color),
    failuresSection(report, options),
    `run ${printable(run.id)} ${paintStatus(color, run.status)}: ${countsText(report.tasks, color)}`,
  ];
  return `${sections.filter((s) => s !== '').join('\n\n')}\n`;
}

/** Machines with a price cost this much, of a budget if it has one; runs on free machines say nothing of it. */
function cost(usd: number | undefined, budget: number | undefined): string {
  const of = budget === undefined ? '' : ` of a ${formatUsd(budget)} budget`;
  return usd === undefined ? (of && ` · ${formatUsd(0)}${of}`) : ` · ${formatUsd(usd)}${of}`;
}

function taskTable(tasks: ReportTask[], color: boolean): string {
  if (tasks.length === 0) return '';
  const rows = [...byStep(tasks).values()].flat().map((task) => {
    const last = task.attempts.at(-1);
    return [
      paintStatus(color, task.status),
      printable(task.id),
      String(task.attempts.length),
      workerOf(last),
      result(task),
    ];
  });
  return table(rows, header(color, ['STATUS', 'TASK', 'ATTEMPTS', 'WORKER', 'RESULT']));
}

function compactTasks(tasks: ReportTask[], color: boolean): string {
  const steps = [...byStep(tasks)].map(([step, own]) => [printable(step), String(own.length), countsText(own, color)]);
  const notFine = tasks.filter((t) => !FINE.has(t.status));
  const perStep = table(steps, header(color, ['STEP', 'TASKS', 'STATUS']));
  return notFine.length === 0 ? perStep : `${perStep}\n\n${taskTable(notFine, color)}`;
}

/** Tasks by step, steps and tasks in report order. */
function byStep(tasks: ReportTask[]): Map<string, ReportTask[]> {
  const steps = new Map<string, ReportTask[]>();
  for (const task of tasks) {
    const own = steps.get(task.step) ?? [];
    own.push(task);
    steps.set(task.step, own);
  }
  return steps;
}

/** How the last attempt went: its error if the task did not succeed, else how long it took. */
function result(task: ReportTask): string {
  const last = task.attempts.at(-1);
  if (!last) return '';
  if (task.status !== 'succeeded' && last.error) return truncate(firstLine(printable(last.error, { lines: true })), ERROR_WIDTH);
  return span(last.started_at, last.finished_at);
}

/** How long from start to finish; nothing while unfinished. */
function span(startedAt: string, finishedAt: string | null): string {
  return finishedAt === null ? '' : formatDuration(Date.parse(finishedAt) - Date.parse(startedAt));
}

/** Which worker ran an attempt; one started by hand (`slipway worker`), not by a provider, says so. */
function workerOf(attempt: ReportAttempt | undefined): string {
  if (!attempt?.worker) return '';
  return printable(attempt.hand_started ? `${attempt.worker} (by hand)` : attempt.worker);
}

function failuresSection(report: RunReport, { color, logsCommand }: SummaryOptions): string {
  const failures = allFailures(report);
  if (failures.length === 0) return '';
  const blocks = failures.map((f) => {
    const fields: [string, string][] = [];
    if (Object.keys(f.matrix).length > 0) fields.push(['matrix', formatMatrix(f.matrix)]);
    // An error may quote a script's output, in lines of its own.
    const last = report.tasks.find((t) => t.id === f.task)?.attempts.at(-1);
    const worker = f.worker === null ? '(none)' : last?.worker === f.worker ? workerOf(last) : printable(f.worker);
    fields.push(['worker', worker], ['error', printable(f.error, { lines: true })]);
    if (f.log_tail !== undefined) fields.push(['output', printable(f.log_tail, { lines: true })]);
    if (logsCommand) fields.push(['log', printable(logsCommand(f.task))]);
    // Continuation lines of a long error line up under its first line.
    const lines = fields.map(([name, value]) => `  ${name.padEnd(7)} ${value.replaceAll('\n', `\n${' '.repeat(10)}`)}`);
    return [paint(color, 'red', printable(f.task)), ...lines].join('\n');
  });
  return [paint(color, 'bold', `FAILURES (${failures.length})`), ...blocks].join('\n');
}

/**
 * The report's failures, plus any failed task they miss (named from its last attempt),
 * so that no failed task can go unmentioned.
 */
function allFailures(report: RunReport): ReportFailure[] {
  const listed = new Set(report.failures.map((f) => f.task));
  const missing = report.tasks
    .filter((t) => t.status === 'failed' && !listed.has(t.id))
    .map((t) => {
      const last = t.attempts.at(-1);
      return { task: t.id, step: t.step, matrix: t.matrix, worker: last?.worker ?? null, error: last?.error ?? 'failed' };
    });
  return [...report.failures, ...missing];
}

/** `2 failed, 3 blocked, 7 succeeded, 1 skipped`. */
function countsText(tasks: ReportTask[], color: boolean): string {
  const counts = countStatuses(tasks.map((t) => t.status));
  const parts = COUNT_ORDER.filter((s) => counts[s] > 0).map((s) => paintStatus(color, s, `${counts[s]} ${s}`));
  return parts.length > 0 ? parts.join(', ') : 'no tasks';
}

function header(color: boolean, names: string[]): string[] {
  return names.map((name) => paint(color, 'bold', name));
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? '';
}

/** The `slipway runs` table, runs in the order given, ending in a newline. */
export function renderRunList(runs: RunReport['run'][], options: { color: boolean } = { color: false }): string {
  if (runs.length === 0) return 'no runs\n';
  const { color } = options;
  // Revision columns only when some run came from a repository: a list of plain directories stays narrow.
  const revisions = runs.some((run) => run.source.vcs !== null);
  const rows = runs.map((run) => [
    printable(run.id),
    printable(run.pipeline),
    paintStatus(color, run.status),
    localDateTime(run.started_at),
    span(run.started_at, run.finished_at),
    ...(revisions ? [revisionCell(run.source), printable(authorName(run.source.author ?? '')), truncate(printable(firstLine(run.source.message ?? '')), MESSAGE_WIDTH)] : []),
  ]);
  const names = ['RUN', 'PIPELINE', 'STATUS', 'STARTED', 'DURATION', ...(revisions ? ['REVISION', 'AUTHOR', 'MESSAGE'] : [])];
  return `${table(rows, header(color, names))}\n`;
}

/** Commit messages are cut to this in the runs list. */
const MESSAGE_WIDTH = 50;

/** A revision as people quote it (12 hex digits); a working tree as such; a try says so. */
function revisionCell(source: RunSource): string {
  if (source.vcs === null) return '';
  const revision = source.revision ? source.revision.slice(0, 12) : 'working tree';
  return source.try ? `${revision} (try)` : revision;
}

/** Where a run's tree came from, in one line, for the summary; '' for a plain directory. */
export function sourceLine(source: RunSource): string {
  if (source.vcs === null) return '';
  const repository = repositoryName(source.vcs, source.repository ?? '(unknown)');
  const branch = source.branch ? ` (${source.branch})` : '';
  if (!source.revision) return printable(`source: working tree of ${repository}${branch}${source.base ? ` at ${source.base.slice(0, 12)}` : ''}`);
  const by = source.author ? ` by ${authorName(source.author)}` : '';
  return printable(`source: ${source.try ? 'try of ' : ''}revision ${source.revision.slice(0, 12)}${branch} of ${repository}${by}: ${firstLine(source.message ?? '')}`);
}

/** `2026-01-02 12:03:04` in local time: what people compare with their clock. */
function localDateTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n: number) => String(n).padStart(2, '0');
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}
