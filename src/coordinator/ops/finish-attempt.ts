import type { WorkerState } from '../../engine/fleet-view.ts';
import { waitingName } from '../../engine/worker-name.ts';
import { prepared } from '../../store/prepared.ts';
import type { AttemptsTable } from '../../store/schema.ts';
import type { Db } from '../../store/store.ts';
import { claim, selectWorker, type ClaimingWorker, type ClaimResult, type SpecOf } from './claim.ts';
import type { Changes } from '../changes.ts';
import { moveTaskOn, recordOwnEnd, type AttemptResult } from './end-attempt.ts';

const selectAttempt = prepared<{ id: string; worker: string }, Pick<AttemptsTable, 'id' | 'run_id' | 'task_key' | 'kind' | 'number' | 'worker_id' | 'outcome' | 'exit_code'>>((db, arg) =>
  db.selectFrom('attempts').select(['id', 'run_id', 'task_key', 'kind', 'number', 'worker_id', 'outcome', 'exit_code'])
    .where('id', '=', arg('id')).where('worker_id', '=', arg('worker')));

const workerDone = prepared<{ id: string; state: WorkerState; name: string; tasksDone: number; lastTask: string; now: number }, unknown>((db, arg) =>
  db.updateTable('workers')
    .set({ state: arg('state'), name: arg('name'), tasks_done: arg('tasksDone'), last_task: arg('lastTask'), last_seen_at: arg('now') })
    .where('id', '=', arg('id')));

export type FinishResult =
  | { kind: 'recorded'; workerName: string; stop: boolean }
  | { kind: 'unknown' }
  /** The attempt had already ended (lost, cancelled): a newer truth stands. */
  | { kind: 'stale' };

const liveStates = new Set<WorkerState>(['idle', 'busy', 'draining']);

/**
 * A worker reports an attempt's end. After a failed task it takes no new work (DESIGN:
 * it cleans up and shuts down), so it is marked draining here too.
 *
 * The same report again (its answer was lost when the coordinator stopped) is answered
 * as the first was, without recording anything twice.
 */
export async function finishAttempt(
  trx: Db, specOf: SpecOf, workerId: string, attemptId: string, result: AttemptResult, changes: Changes,
): Promise<FinishResult> {
  return (await recordFinish(trx, specOf, workerId, attemptId, result, changes)).finished;
}

/**
 * finishAttempt, then, with `claimNext` and a worker that goes on, its next attempt in the
 * same transaction: one request and one commit per task in steady state. The claim takes
 * the worker as the finish left it instead of reading it again, and writes its row once
 * for both (see recordFinish).
 */
export async function finishAndClaim(
  trx: Db, specOf: SpecOf, workerId: string, attemptId: string, result: AttemptResult, changes: Changes, claimNext: boolean, known?: ClaimingWorker,
): Promise<{ finished: FinishResult; next: ClaimResult | null }> {
  const { finished, worker, unwritten } = await recordFinish(trx, specOf, workerId, attemptId, result, changes, known, claimNext);
  const next = claimNext && finished.kind === 'recorded' && !finished.stop ? await claim(trx, specOf, workerId, changes, worker, unwritten) : null;
  if (unwritten && next?.kind !== 'attempt') await workerDone.changed(trx, unwritten);
  return { finished, next };
}

type WorkerDone = { id: string; state: WorkerState; name: string; tasksDone: number; lastTask: string; now: number };

/**
 * `known` is the worker as this transaction read it already (with its credential), which
 * spares reading it again. With `claimNext`, a worker that goes on after a success has its
 * row written by the claim that follows (`unwritten`: what the finish would have written,
 * for when none does), one statement instead of two; it is written at once, as always,
 * before anything that may end the run, which drains the run's workers as their rows are.
 */
async function recordFinish(
  trx: Db, specOf: SpecOf, workerId: string, attemptId: string, result: AttemptResult, changes: Changes, known?: ClaimingWorker, claimNext = false,
): Promise<{ finished: FinishResult; worker?: ClaimingWorker; unwritten?: WorkerDone }> {
  // The common case first, in one statement: the attempt was open, and now has ended.
  const attempt = await recordOwnEnd.first(trx, { id: attemptId, worker: workerId, outcome: result.outcome, exitCode: result.exitCode, error: result.error, scriptMs: result.scriptMs ?? null, now: changes.now });
  const readWorker = async () => {
    const worker = known ?? await selectWorker.first(trx, { id: workerId });
    if (!worker) throw new Error(`no worker ${workerId}`);
    return worker;
  };
  if (!attempt) {
    const ended = await selectAttempt.first(trx, { id: attemptId, worker: workerId });
    if (!ended) return { finished: { kind: 'unknown' } };
    const worker = await readWorker();
    const repeated = ended.outcome === result.outcome && ended.exit_code === result.exitCode && liveStates.has(worker.state);
    if (!repeated) return { finished: { kind: 'stale' } };
    return { finished: { kind: 'recorded', workerName: waitingName(worker.tasks_done, ended.task_key, worker.activity), stop: worker.state === 'draining' }, worker };
  }
  const worker = await readWorker();
  const tasksDone = worker.tasks_done + 1;
  const name = waitingName(tasksDone, attempt.task_key, worker.activity);
  const workerFailed = !result.refused && (attempt.kind === 'run' ? result.outcome !== 'succeeded' : result.outcome !== 'succeeded' && result.outcome !== 'failed');
  const state = workerFailed || worker.state !== 'busy' ? 'draining' : 'idle';
  const done: WorkerDone = { id: workerId, state, name, tasksDone, lastTask: attempt.task_key, now: changes.now };
  let unwritten: WorkerDone | undefined = done;
  const writeWorker = async () => {
    if (!unwritten) return;
    unwritten = undefined;
    await workerDone.changed(trx, done);
  };
  if (!claimNext || state !== 'idle') await writeWorker();
  // The attempt's run, which may be any run the worker's pool serves.
  const spec = await specOf(attempt.run_id);
  await moveTaskOn(trx, spec, attempt, result, name, changes, writeWorker);
  // Ending the attempt may have ended its run, and with it the worker's pool (drainWorkersOfRun).
  const stop = workerFailed || worker.state !== 'busy' || changes.drained.has(worker.pool_id ?? `${worker.run_id}/${worker.activity}`);
  return { finished: { kind: 'recorded', workerName: name, stop }, worker: { ...worker, state, name, tasks_done: tasksDone }, unwritten };
}
