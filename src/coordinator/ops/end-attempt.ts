import { sql } from 'kysely';
import { afterAttempt } from '../../engine/retry.ts';
import { afterCheck, isFinal, openTaskStatuses } from '../../engine/task-state.ts';
import type { AttemptOutcome, TaskStatus } from '../../engine/report.ts';
import { formatDuration } from '../../util/duration-text.ts';
import type { AttemptsTable } from '../../store/schema.ts';
import { prepared, preparedRows } from '../../store/prepared.ts';
import { valueRows } from '../../store/value-rows.ts';
import type { Db } from '../../store/store.ts';
import type { Changes } from '../changes.ts';
import { poolOf } from '../pool-signals.ts';
import type { RunSpec } from '../run-specs.ts';
import { failTask, finishRunIfDone, releaseDependents } from './settle-task.ts';
import { budgetOf, budgetSpentNow, notStarted } from './spend-budget.ts';

type EndValues = { id: string; outcome: AttemptOutcome; exitCode: number | null; error: string | null; scriptMs: number | null; now: number };

/** Records how an attempt ended, if it had not ended yet: an end the coordinator decides (a worker's own report is finishAll's). */
const recordEnd = prepared<EndValues, unknown>((db, arg) =>
  db.updateTable('attempts')
    .set({ outcome: arg('outcome'), exit_code: arg('exitCode'), error: arg('error'), script_ms: arg('scriptMs'), finished_at: arg('now') })
    .where('id', '=', arg('id')).where('outcome', 'is', null));

const selectTask = prepared<{ run: string; key: string }, { status: TaskStatus; checks: number; step: string; retry_base: number; active_attempt: string | null }>((db, arg) =>
  db.selectFrom('tasks').select(['status', 'checks', 'step', 'retry_base', 'active_attempt']).where('run_id', '=', arg('run')).where('key', '=', arg('key')));

const succeedTasks = preparedRows<[string, string, string], { run_id: string; key: string; step: string; others_open: boolean | number }>(3, (db, done) => {
  const open = sql.join(openTaskStatuses.map((status) => sql`${status}`));
  return sql<{ run_id: string; key: string; step: string; others_open: boolean | number }>`${valueRows('done', [['run_id'], ['key'], ['attempt']], done)}
    update tasks set status = 'succeeded', active_attempt = null, error = null
    from done where tasks.run_id = done.run_id and tasks.key = done.key and tasks.active_attempt = done.attempt and tasks.status in (${open})
    returning tasks.run_id, tasks.key, tasks.step,
      exists (select 1 from tasks as other where other.run_id = tasks.run_id and other.status in (${open})
        and not exists (select 1 from done as succeeding where succeeding.run_id = other.run_id and succeeding.key = other.key and succeeding.attempt = other.active_attempt)) as others_open`.compile(db);
});

/**
 * The common end of attempts, in one statement for those of a batch: each one's task
 * succeeded, if the attempt is still the task's active one and the task still open (no
 * rerun or cancel came meanwhile); and whether a task of its run is still open, which
 * spares looking for one to end the run. The statement may see the tasks as they were
 * before it (PostgreSQL does), when those it succeeds were still open: a task counts as
 * open unless this statement succeeds it. By attempt id, for those it ended.
 */
export async function tasksSucceeded(trx: Db, attempts: { run: string; key: string; attempt: string }[]): Promise<Map<string, { step: string; othersOpen: boolean }>> {
  const rows = (await succeedTasks(trx, attempts.map((a) => [a.run, a.key, a.attempt]))).rows;
  const attemptOf = new Map(attempts.map((a) => [`${a.run}\0${a.key}`, a.attempt]));
  return new Map(rows.map((row) => [attemptOf.get(`${row.run_id}\0${row.key}`)!, { step: row.step, othersOpen: Boolean(row.others_open) }]));
}

export interface AttemptResult {
  outcome: AttemptOutcome;
  exitCode: number | null;
  error: string | null;
  /** How long its script ran, as its worker measured it; unknown for an attempt the coordinator ends. */
  scriptMs?: number | null;
  /**
   * The coordinator refused the attempt before its worker got it (a secret the store lacks):
   * no retry can help until the store changes, and the worker, which ran nothing, is sound.
   */
  refused?: boolean;
}

/**
 * Records how an attempt ended and moves its task on: done, retried, failed (blocking its
 * dependents) or, for a done_if check, skipped / queued to run. An attempt that had
 * already ended (a late report from a worker that was given up on) changes nothing.
 */
export async function endAttempt(
  trx: Db, spec: RunSpec, attempt: Pick<AttemptsTable, 'id' | 'task_key' | 'kind' | 'number' | 'worker_id'>,
  result: AttemptResult, workerName: string | null, changes: Changes,
): Promise<void> {
  const ended = await recordEnd.changed(trx, { id: attempt.id, outcome: result.outcome, exitCode: result.exitCode, error: result.error, scriptMs: result.scriptMs ?? null, now: changes.now });
  if (ended > 0) await moveTaskOn(trx, spec, attempt, result, workerName, changes);
}

/**
 * What an attempt's end (recorded already) does to its task: see endAttempt. `beforeRunMayEnd`:
 * what must be written before anything that may end the run (its worker's row, by a finish
 * that leaves it to the claim after it), called then, and only then.
 */
export async function moveTaskOn(
  trx: Db, spec: RunSpec, attempt: Pick<AttemptsTable, 'id' | 'task_key' | 'kind' | 'number' | 'worker_id'>,
  result: AttemptResult, workerName: string | null, changes: Changes, beforeRunMayEnd?: () => Promise<void>,
): Promise<void> {
  const who = whoEnded(attempt, workerName);
  if (attempt.kind === 'run' && result.outcome === 'succeeded') {
    const succeeded = (await tasksSucceeded(trx, [{ run: spec.id, key: attempt.task_key, attempt: attempt.id }])).get(attempt.id);
    // Not the task's active attempt, or the task ended meanwhile: see below.
    if (succeeded) {
      await afterSuccess(trx, spec, { key: attempt.task_key, step: succeeded.step }, succeeded.othersOpen, who, changes, beforeRunMayEnd);
      return;
    }
  }
  await beforeRunMayEnd?.();
  const task = await selectTask.first(trx, { run: spec.id, key: attempt.task_key });
  if (!task) throw new Error(`no task ${attempt.task_key} in run ${spec.id}`);
  // The fence: only the task's active attempt moves it on. One from before a rerun keeps its outcome, nothing more.
  if (task.active_attempt !== attempt.id) return;
  const clear = { active_attempt: null };
  if (isFinal(task.status)) {
    // Cancelled while in flight: the attempt's outcome is kept, the task stays as it is.
    await setTask(trx, spec.id, attempt.task_key, clear);
    return;
  }
  const step = spec.pipeline.steps[task.step]!;
  // Looked at as each attempt ends (a success's above), before its worker is given another: no task starts past the budget.
  const spent = await budgetSpentNow(trx, spec, changes);

  if (attempt.kind === 'check') {
    const next = afterCheck(result.outcome, task.checks);
    if (next.status === 'skipped') {
      await setTask(trx, spec.id, attempt.task_key, { ...clear, status: 'skipped' });
      changes.event(spec.id, 'task.skipped', { ...who, message: 'done_if: already done' });
      await releaseDependents(trx, spec, { key: attempt.task_key, step: task.step }, changes);
      await finishRunIfDone(trx, spec.id, changes);
    } else if (spent !== undefined) {
      await failTask(trx, spec.id, attempt.task_key, notStarted(spent), changes, who);
    } else if (next.status === 'queued') {
      await setTask(trx, spec.id, attempt.task_key, { ...clear, status: 'queued', pool: step.activity });
      changes.queue(poolOf(spec, step.activity));
      changes.event(spec.id, 'task.queued', { task: attempt.task_key });
    } else {
      await setTask(trx, spec.id, attempt.task_key, clear);
      changes.queue(poolOf(spec, step.doneIf!.activity));
    }
    return;
  }

  // Failed, or to be retried: a success of the task's active attempt ended above.
  const next = afterAttempt(step.retry, attempt.number - task.retry_base, result.outcome, changes.now, result.refused);
  const error = result.error ?? result.outcome;
  if (next.status === 'queued' && spent !== undefined) {
    await failTask(trx, spec.id, attempt.task_key, `${error}; no retry: ${spent}`, changes, who);
  } else if (next.status === 'queued') {
    await setTask(trx, spec.id, attempt.task_key, { ...clear, status: 'queued', not_before: next.notBefore, error });
    changes.delay(poolOf(spec, step.activity), next.notBefore);
    changes.event(spec.id, 'task.retrying', { ...who, message: `${error}; retrying in ${formatDuration(next.delayMs)}` });
  } else {
    await failTask(trx, spec.id, attempt.task_key, error, changes, who);
  }
}

/** Who ended an attempt, as its task's events say. */
export function whoEnded(attempt: Pick<AttemptsTable, 'task_key' | 'number' | 'worker_id'>, workerName: string | null) {
  return { task: attempt.task_key, worker: attempt.worker_id, worker_name: workerName ?? undefined, attempt: attempt.number };
}

/**
 * What follows a task's success, its row written (see tasksSucceeded): the tasks that need
 * it may start, and its run ends with its last open task, or at its budget.
 */
export async function afterSuccess(
  trx: Db, spec: RunSpec, task: { key: string; step: string }, othersOpen: boolean, who: ReturnType<typeof whoEnded>, changes: Changes, beforeRunMayEnd?: () => Promise<void>,
): Promise<void> {
  if (!othersOpen || budgetOf(spec) !== undefined) await beforeRunMayEnd?.();
  await budgetSpentNow(trx, spec, changes);
  changes.event(spec.id, 'task.succeeded', who);
  await releaseDependents(trx, spec, task, changes);
  if (!othersOpen) await finishRunIfDone(trx, spec.id, changes);
}

function setTask(trx: Db, runId: string, key: string, values: {
  active_attempt: null; status?: TaskStatus; pool?: string; not_before?: number; error?: string | null;
}) {
  return trx.updateTable('tasks').set(values).where('run_id', '=', runId).where('key', '=', key).execute();
}
