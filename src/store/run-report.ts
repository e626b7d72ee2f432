import type { AttemptOutcome, ReportAttempt, ReportFailure, ReportTask, RunReport, RunStatus, TaskStatus } from '../engine/report.ts';
import type { Db } from './store.ts';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(Number(ms)).toISOString());

/** Finds a run by its id or a unique prefix of it. */
export async function resolveRunId(db: Db, idOrPrefix: string): Promise<string> {
  if (!/^r-[0-9a-f]{1,8}$/.test(idOrPrefix)) throw new Error(`'${idOrPrefix}' is not a run id (they look like r-3f2a9c1b)`);
  const rows = await db.selectFrom('runs').select('id').where('id', 'like', `${idOrPrefix}%`).limit(2).execute();
  if (rows.length === 0) throw new Error(`no run ${idOrPrefix}`);
  if (rows.length > 1) throw new Error(`${idOrPrefix} names more than one run; give more of its id`);
  return rows[0]!.id;
}

/** The report of DESIGN.md: every task with its attempts, and every failure named. */
export async function runReport(db: Db, runId: string): Promise<RunReport> {
  const run = await db.selectFrom('runs').select(['id', 'pipeline', 'status', 'created_at', 'finished_at'])
    .where('id', '=', runId).executeTakeFirstOrThrow();
  const tasks = await db.selectFrom('tasks').select(['key', 'step', 'matrix', 'status', 'error'])
    .where('run_id', '=', runId).orderBy('seq').execute();
  const attempts = await db.selectFrom('attempts')
    .select(['task_key', 'number', 'worker_id', 'outcome', 'exit_code', 'error', 'started_at', 'finished_at'])
    .where('run_id', '=', runId).where('kind', '=', 'run').orderBy('task_key').orderBy('number').execute();
  const byTask = new Map<string, ReportAttempt[]>();
  for (const a of attempts) {
    const list = byTask.get(a.task_key) ?? [];
    list.push({
      number: a.number, worker: a.worker_id, outcome: a.outcome as AttemptOutcome | null, exit_code: a.exit_code,
      error: a.error, started_at: iso(a.started_at)!, finished_at: iso(a.finished_at),
    });
    byTask.set(a.task_key, list);
  }
  const reportTasks: ReportTask[] = [];
  const failures: ReportFailure[] = [];
  for (const task of tasks) {
    const matrix = JSON.parse(task.matrix) as Record<string, string>;
    const taskAttempts = byTask.get(task.key) ?? [];
    reportTasks.push({ id: task.key, step: task.step, matrix, status: task.status as TaskStatus, attempts: taskAttempts });
    if (task.status === 'failed') {
      const last = taskAttempts.at(-1);
      failures.push({ task: task.key, step: task.step, matrix, worker: last?.worker ?? null, error: task.error ?? last?.error ?? 'failed' });
    }
  }
  return {
    run: { id: run.id, pipeline: run.pipeline, status: run.status as RunStatus, started_at: iso(run.created_at)!, finished_at: iso(run.finished_at) },
    tasks: reportTasks,
    failures,
  };
}

export async function listRuns(db: Db, limit: number): Promise<RunReport['run'][]> {
  const rows = await db.selectFrom('runs').select(['id', 'pipeline', 'status', 'created_at', 'finished_at'])
    .orderBy('created_at', 'desc').limit(limit).execute();
  return rows.map((r) => ({ id: r.id, pipeline: r.pipeline, status: r.status as RunStatus, started_at: iso(r.created_at)!, finished_at: iso(r.finished_at) }));
}
