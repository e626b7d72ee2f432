import { sql } from 'kysely';
import type { WorkerState } from '../../engine/fleet-view.ts';
import { waitingName } from '../../engine/worker-name.ts';
import { prepared, preparedRows } from '../../store/prepared.ts';
import type { AttemptsTable } from '../../store/schema.ts';
import type { Db } from '../../store/store.ts';
import { valueRows } from '../../store/value-rows.ts';
import type { Changes } from '../changes.ts';
import type { RunSpec } from '../run-specs.ts';
import { claim, claimAll, poolOfWorker, selectWorker, type ClaimingWorker, type ClaimResult, type SpecOf } from './claim.ts';
import { afterSuccess, moveTaskOn, tasksSucceeded, whoEnded, type AttemptResult } from './end-attempt.ts';
import { budgetOf } from './spend-budget.ts';

const selectAttempt = prepared<{ id: string; worker: string }, Pick<AttemptsTable, 'id' | 'run_id' | 'task_key' | 'kind' | 'number' | 'worker_id' | 'outcome' | 'exit_code'>>((db, arg) =>
  db.selectFrom('attempts').select(['id', 'run_id', 'task_key', 'kind', 'number', 'worker_id', 'outcome', 'exit_code'])
    .where('id', '=', arg('id')).where('worker_id', '=', arg('worker')));

export type FinishResult =
  | { kind: 'recorded'; workerName: string; stop: boolean }
  | { kind: 'unknown' }
  /** The attempt had already ended (lost, cancelled): a newer truth stands. */
  | { kind: 'stale' };

const liveStates = new Set<WorkerState>(['idle', 'busy', 'draining']);

/** A worker's report of how its attempt ended. */
export interface FinishReport {
  /** The worker as this transaction read it. */
  worker: ClaimingWorker & { id: string };
  attemptId: string;
  result: AttemptResult;
  /** Whether the worker, if it goes on, takes its next attempt in the same transaction. */
  claimNext: boolean;
  changes: Changes;
}

export interface Finished { finished: FinishResult; next: ClaimResult | null }

type EndedAttempt = Pick<AttemptsTable, 'id' | 'run_id' | 'task_key' | 'kind' | 'number' | 'worker_id'>;

/** A report whose attempt this transaction ended, and what that makes of its worker. */
interface Ending {
  report: FinishReport;
  attempt: EndedAttempt;
  spec: RunSpec;
  tasksDone: number;
  /** The worker's name while it waits, and whether its task failed it (see finishAll). */
  name: string;
  failed: boolean;
  state: WorkerState;
}

/**
 * Workers report their attempts' ends (one report per worker): each is recorded and its
 * task moved on; each worker that goes on and asked for it is handed its next attempt in
 * the same transaction: one request and one commit per task in steady state. The reports
 * of a batch share their statements (ending their attempts, their tasks' successes, their
 * claims, their workers' rows), so a busy coordinator pays a few statements for many tasks.
 * After a failed task a worker takes no new work (DESIGN: it cleans up and shuts down), so
 * it is marked draining here too.
 *
 * The same report again (its answer was lost when the coordinator stopped) is answered as
 * the first was, without recording anything twice.
 */
export async function finishAll(trx: Db, specOf: SpecOf, reports: FinishReport[]): Promise<Finished[]> {
  if (reports.length === 0) return [];
  const answers: Finished[] = [];
  const ended = await endAttempts(trx, reports);
  const endings: Ending[] = [];
  for (const [i, report] of reports.entries()) {
    const attempt = ended.get(report.attemptId);
    if (attempt) endings.push(ending(report, attempt, await specOf(attempt.run_id)));
    else answers[i] = await answeredBefore(trx, specOf, report);
  }
  // A worker's row is written once, with its claim, unless a run may end before: a run's
  // end drains its pool's workers as their rows are, so they must be written by then.
  const unwritten = new Set(endings);
  const writeRows = async () => {
    await writeWorkers(trx, [...unwritten].map((e) => workerRow(e)));
    unwritten.clear();
  };
  await moveTasksOn(trx, endings, writeRows);
  // Drained by a run's end in this transaction, whichever report ended it.
  const drained = new Set(endings.flatMap((e) => [...e.report.changes.drained]));
  const stops = endings.map((e) => e.failed || e.report.worker.state !== 'busy' || drained.has(poolOfWorker(e.report.worker)));
  const claiming = endings.filter((e, i) => e.report.claimNext && !stops[i]);
  const claims = await claimAll(trx, specOf, claiming.map((e) => ({ workerId: e.report.worker.id, worker: { ...e.report.worker, state: e.state, name: e.name, tasks_done: e.tasksDone }, changes: e.report.changes })));
  const nextOf = new Map(claiming.map((e, i) => [e, claims[i]!]));
  await writeWorkers(trx, endings.flatMap((e) => {
    const next = nextOf.get(e);
    if (next?.kind === 'attempt') return [workerRow(e, next.workerName)];
    return unwritten.has(e) ? [workerRow(e)] : [];
  }));
  endings.forEach((e, i) => {
    answers[reports.indexOf(e.report)] = { finished: { kind: 'recorded', workerName: e.name, stop: stops[i]! }, next: nextOf.get(e) ?? null };
  });
  return answers;
}

/** A worker's row as its attempt's end left it, or busy with the attempt it claimed after (under `busyAs`). */
function workerRow(e: Ending, busyAs?: string): WorkerRow {
  const row = { id: e.report.worker.id, tasksDone: e.tasksDone, lastTask: e.attempt.task_key, now: e.report.changes.now };
  return busyAs === undefined ? { ...row, state: e.state, name: e.name } : { ...row, state: 'busy', name: busyAs };
}

function ending(report: FinishReport, attempt: EndedAttempt, spec: RunSpec): Ending {
  const { worker, result } = report;
  const tasksDone = worker.tasks_done + 1;
  const failed = !result.refused && (attempt.kind === 'run' ? result.outcome !== 'succeeded' : result.outcome !== 'succeeded' && result.outcome !== 'failed');
  return {
    report, attempt, spec, tasksDone, failed,
    name: waitingName(tasksDone, attempt.task_key, worker.activity),
    state: failed || worker.state !== 'busy' ? 'draining' : 'idle',
  };
}

type EndRow = [id: string, worker: string, outcome: string, exitCode: number | null, error: string | null, scriptMs: number | null, now: number];

const endOpenAttempts = preparedRows<EndRow, EndedAttempt>(7, (db, rows) => sql<EndedAttempt>`${valueRows('ended', [['id'], ['worker'], ['outcome'], ['exit_code', 'integer'], ['error'], ['script_ms', 'bigint'], ['now', 'bigint']], rows)}
    update attempts set outcome = ended.outcome, exit_code = ended.exit_code, error = ended.error, script_ms = ended.script_ms, finished_at = ended.now
    from ended where attempts.id = ended.id and attempts.worker_id = ended.worker and attempts.outcome is null
    returning attempts.id, attempts.run_id, attempts.task_key, attempts.kind, attempts.number, attempts.worker_id`.compile(db));

/**
 * The attempts of the reports that were open, ended as each report says, in one statement;
 * by id. An attempt of another worker, or one that had ended already, is left as it was.
 */
async function endAttempts(trx: Db, reports: FinishReport[]): Promise<Map<string, EndedAttempt>> {
  const rows = reports.map(({ attemptId, worker, result, changes }): EndRow => [attemptId, worker.id, result.outcome, result.exitCode, result.error, result.scriptMs ?? null, changes.now]);
  return new Map((await endOpenAttempts(trx, rows)).rows.map((attempt) => [attempt.id, attempt]));
}

/** A report of an attempt that was not open: the same report again is answered as the first was. */
async function answeredBefore(trx: Db, specOf: SpecOf, report: FinishReport): Promise<Finished> {
  const { worker, result } = report;
  const ended = await selectAttempt.first(trx, { id: report.attemptId, worker: worker.id });
  if (!ended) return { finished: { kind: 'unknown' }, next: null };
  const repeated = ended.outcome === result.outcome && ended.exit_code === result.exitCode && liveStates.has(worker.state);
  if (!repeated) return { finished: { kind: 'stale' }, next: null };
  const stop = worker.state === 'draining';
  return {
    finished: { kind: 'recorded', workerName: waitingName(worker.tasks_done, ended.task_key, worker.activity), stop },
    next: report.claimNext && !stop ? await claim(trx, specOf, worker.id, report.changes, worker) : null,
  };
}

/**
 * Moves the ended attempts' tasks on: the successes first, set-based (see tasksSucceeded),
 * then the rest one by one (moveTaskOn), as if their reports had come after.
 */
async function moveTasksOn(trx: Db, endings: Ending[], writeRows: () => Promise<void>): Promise<void> {
  // A run with a budget looks at its spending as each of its tasks succeeds (see moveTaskOn).
  const successes = endings.filter((e) => e.attempt.kind === 'run' && e.report.result.outcome === 'succeeded' && budgetOf(e.spec) === undefined);
  const succeeded = successes.length === 0 ? new Map() : await tasksSucceeded(trx, successes.map((e) => ({ run: e.spec.id, key: e.attempt.task_key, attempt: e.attempt.id })));
  for (const e of successes) {
    const task = succeeded.get(e.attempt.id);
    if (task) await afterSuccess(trx, e.spec, { key: e.attempt.task_key, step: task.step }, task.othersOpen, whoEnded(e.attempt, e.name), e.report.changes, writeRows);
  }
  for (const e of endings) {
    if (!succeeded.has(e.attempt.id)) await moveTaskOn(trx, e.spec, e.attempt, e.report.result, e.name, e.report.changes, writeRows);
  }
}

interface WorkerRow { id: string; state: WorkerState; name: string; tasksDone: number; lastTask: string; now: number }

/** Workers' rows as their attempts' ends (and claims) left them, in one statement. */
async function writeWorkers(trx: Db, rows: WorkerRow[]): Promise<void> {
  if (rows.length > 0) await writeWorkerRows(trx, rows.map((r) => [r.id, r.state, r.name, r.tasksDone, r.lastTask, r.now]));
}

const writeWorkerRows = preparedRows<[string, WorkerState, string, number, string, number], unknown>(6, (db, rows) => sql`${valueRows('seen', [['id'], ['state'], ['name'], ['tasks_done', 'integer'], ['last_task'], ['now', 'bigint']], rows)}
    update workers set state = seen.state, name = seen.name, tasks_done = seen.tasks_done, last_task = seen.last_task, last_seen_at = seen.now
    from seen where workers.id = seen.id`.compile(db));

/** finishAll of one attempt whose worker takes no next attempt with it. */
export async function finishAttempt(trx: Db, specOf: SpecOf, workerId: string, attemptId: string, result: AttemptResult, changes: Changes): Promise<FinishResult> {
  const worker = await selectWorker.first(trx, { id: workerId });
  if (!worker) throw new Error(`no worker ${workerId}`);
  const [answer] = await finishAll(trx, specOf, [{ worker: { ...worker, id: workerId }, attemptId, result, claimNext: false, changes }]);
  return answer!.finished;
}
