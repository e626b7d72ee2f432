import type { RunEventKind } from '../engine/events.ts';
import type { WorkerState } from '../engine/fleet-view.ts';
import type { AttemptKind, AttemptOutcome, RunStatus } from '../engine/report.ts';
import type { Pipeline, RetryPolicy } from '../pipeline/types.ts';
import { claimableTask } from './claimable.ts';
import type { Db } from './store.ts';

/** The store's side of `GET /metrics` (src/api/metrics.ts): the counts it reports and the rows it measures dispatch latency from. */

/** The events after which a task can be claimed (a retry once its delay is over). */
const readyKinds: RunEventKind[] = ['task.queued', 'task.checking', 'task.retrying'];

const runningRuns = (db: Db) => db.selectFrom('runs').select('id').where('status', '=', 'running');

/** Runs that were running, or finished at `finishedSince` or later: those whose attempts a scan may not have seen. */
const runsSince = (db: Db, finishedSince: number) => db.selectFrom('runs').select('id')
  .where((eb) => eb.or([eb('status', '=', 'running'), eb('finished_at', '>=', finishedSince)]));

/** Claimable tasks of running runs per activity (the task's pool). */
export async function queuedTasksPerActivity(db: Db): Promise<{ pool: string; n: number }[]> {
  const rows = await db.selectFrom('tasks').select(['pool', (eb) => eb.fn.countAll<number>().as('n')])
    .where(claimableTask).where('run_id', 'in', runningRuns(db)).groupBy('pool').execute();
  return rows.map((row) => ({ pool: row.pool, n: Number(row.n) }));
}

/** Workers in one of `states` per activity and state. */
export async function workersPerActivityAndState(db: Db, states: readonly WorkerState[]): Promise<{ activity: string; state: WorkerState; n: number }[]> {
  const rows = await db.selectFrom('workers').select(['activity', 'state', (eb) => eb.fn.countAll<number>().as('n')])
    .where('state', 'in', [...states]).groupBy(['activity', 'state']).execute();
  return rows.map((row) => ({ activity: row.activity, state: row.state, n: Number(row.n) }));
}

/** Ended attempts per kind and outcome: the store keeps every attempt, so the counts only grow. */
export async function endedAttemptsPerKindAndOutcome(db: Db): Promise<{ kind: AttemptKind; outcome: AttemptOutcome; n: number }[]> {
  const rows = await db.selectFrom('attempts').select(['kind', 'outcome', (eb) => eb.fn.countAll<number>().as('n')])
    .where('outcome', 'is not', null).groupBy(['kind', 'outcome']).execute();
  return rows.map((row) => ({ kind: row.kind, outcome: row.outcome!, n: Number(row.n) }));
}

export async function runsPerStatus(db: Db): Promise<{ status: RunStatus; n: number }[]> {
  const rows = await db.selectFrom('runs').select(['status', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('status').execute();
  return rows.map((row) => ({ status: row.status, n: Number(row.n) }));
}

/** Activities of running runs: they are reported at 0 rather than missing while idle. */
export async function runningActivities(db: Db): Promise<Set<string>> {
  const rows = await db.selectFrom('runs').select('spec').where('status', '=', 'running').execute();
  return new Set(rows.flatMap((row) => Object.keys((JSON.parse(row.spec) as Pipeline).activities)));
}

export interface StartedAttempt {
  id: string;
  run_id: string;
  task_key: string;
  started_at: number;
}

/** Attempts that started at `startedSince` or later, of the runs running or finished since `finishedSince`. */
export async function attemptsStartedSince(db: Db, startedSince: number, finishedSince: number): Promise<StartedAttempt[]> {
  return db.selectFrom('attempts').select(['id', 'run_id', 'task_key', 'started_at'])
    .where('run_id', 'in', runsSince(db, finishedSince)).where('started_at', '>=', startedSince).execute();
}

export interface ReadinessEvent {
  at: number;
  run_id: string;
  kind: RunEventKind;
  task_key: string | null;
  attempt: number | null;
}

/**
 * Events that made a task claimable, after `afterSeq` up to `lastSeq`, oldest first. With
 * `finishedSince`, only those of runs running or finished since then: the first scan's
 * start, which must not read the whole history.
 */
export async function readinessEvents(db: Db, afterSeq: number, lastSeq: number, finishedSince?: number): Promise<ReadinessEvent[]> {
  let query = db.selectFrom('events').select(['at', 'run_id', 'kind', 'task_key', 'attempt'])
    .where('seq', '>', afterSeq).where('seq', '<=', lastSeq).where('kind', 'in', readyKinds).orderBy('seq');
  if (finishedSince !== undefined) query = query.where('run_id', 'in', runsSince(db, finishedSince));
  return query.execute();
}

/** Which of these runs are still running. */
export async function runningAmong(db: Db, runIds: string[]): Promise<Set<string>> {
  const rows = await db.selectFrom('runs').select('id').where('id', 'in', runIds).where('status', '=', 'running').execute();
  return new Set(rows.map((row) => row.id));
}

/**
 * A task's retry policy and the attempt its policy counts from (a rerun moves it on), as
 * its run's pipeline gives them; undefined when the task or its step is not there.
 */
export async function retryOfTask(db: Db, runId: string, taskKey: string): Promise<{ policy: RetryPolicy; base: number } | undefined> {
  const row = await db.selectFrom('tasks').innerJoin('runs', 'runs.id', 'tasks.run_id')
    .select(['tasks.step', 'tasks.retry_base', 'runs.spec'])
    .where('tasks.run_id', '=', runId).where('tasks.key', '=', taskKey).executeTakeFirst();
  const step = row && (JSON.parse(row.spec) as Pipeline).steps[row.step];
  return row && step ? { policy: step.retry, base: row.retry_base } : undefined;
}
