import { handStartedProvider, type ReportAttempt, type ReportFailure, type ReportTask, type RunReport, type RunSource, type RunStatus, type TaskStatus } from '../engine/report.ts';
import { roundUsd } from './fleet.ts';
import { spentByRun } from './run-spend.ts';
import type { RunsTable } from './schema.ts';
import type { Db } from './store.ts';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(Number(ms)).toISOString());

/** The columns of a run the report's `run` is made of. */
const runColumns = [
  'id', 'pipeline', 'status', 'created_at', 'finished_at', 'source_digest', 'source_vcs', 'source_repository', 'source_revision',
  'source_branch', 'source_base', 'source_author', 'source_message', 'source_try', 'budget_usd', 'budget_spent',
] as const;

type RunRow = Pick<RunsTable, (typeof runColumns)[number]>;

function reportRun(row: RunRow): Omit<RunReport['run'], 'cost_usd' | 'spend_cap' | 'cancel_reason'> {
  const source: RunSource = {
    digest: row.source_digest, vcs: row.source_vcs, repository: row.source_repository, revision: row.source_revision, branch: row.source_branch,
    base: row.source_base, author: row.source_author, message: row.source_message, try: Boolean(row.source_try),
  };
  return {
    id: row.id, pipeline: row.pipeline, status: row.status, source, started_at: iso(row.created_at)!, finished_at: iso(row.finished_at),
    ...(row.budget_usd !== null && { budget_usd: row.budget_usd }),
  };
}

/** Finds a run by its id or a unique prefix of it. */
export async function resolveRunId(db: Db, idOrPrefix: string): Promise<string> {
  if (!/^r-[0-9a-f]{1,8}$/.test(idOrPrefix)) throw new Error(`'${idOrPrefix}' is not a run id (they look like r-3f2a9c1b)`);
  const rows = await db.selectFrom('runs').select('id').where('id', 'like', `${idOrPrefix}%`).limit(2).execute();
  if (rows.length === 0) throw new Error(`no run ${idOrPrefix}`);
  if (rows.length > 1) throw new Error(`${idOrPrefix} names more than one run; give more of its id`);
  return rows[0]!.id;
}

/** The report of DESIGN.md: every task with its attempts, and every failure named. */
/** A run's attempts at running tasks (one task's, with `key`), each task's in order. */
async function attemptsByTask(db: Db, runId: string, key?: string): Promise<Map<string, ReportAttempt[]>> {
  const attempts = await db.selectFrom('attempts').leftJoin('workers', 'workers.id', 'attempts.worker_id')
    .select(['attempts.id', 'task_key', 'number', 'worker_id', 'workers.name as worker_name', 'workers.provider as worker_provider', 'workers.pool_id as pool', 'outcome', 'exit_code', 'attempts.error', 'started_at', 'finished_at', 'script_ms'])
    .where('attempts.run_id', '=', runId).where('kind', '=', 'run')
    .$if(key !== undefined, (query) => query.where('task_key', '=', key!))
    .orderBy('task_key').orderBy('number').execute();
  const byTask = new Map<string, ReportAttempt[]>();
  for (const a of attempts) {
    const list = byTask.get(a.task_key) ?? [];
    list.push({
      id: a.id, number: a.number, worker: a.worker_id, worker_name: a.worker_name, pool: a.pool ?? null,
      ...(a.worker_provider === handStartedProvider && { hand_started: true as const }),
      outcome: a.outcome, exit_code: a.exit_code,
      error: a.error, started_at: iso(a.started_at)!, finished_at: iso(a.finished_at), script_ms: a.script_ms,
    });
    byTask.set(a.task_key, list);
  }
  return byTask;
}

/** One task of a run as the run's report has it, read alone (a task followed is read again and again). */
export async function taskReport(db: Db, runId: string, key: string): Promise<ReportTask | undefined> {
  const task = await db.selectFrom('tasks').select(['key', 'step', 'matrix', 'status']).where('run_id', '=', runId).where('key', '=', key).executeTakeFirst();
  if (!task) return undefined;
  return reportTask(task, (await attemptsByTask(db, runId, key)).get(key) ?? []);
}

function reportTask(task: { key: string; step: string; matrix: string; status: TaskStatus }, attempts: ReportAttempt[]): ReportTask {
  return { id: task.key, step: task.step, matrix: JSON.parse(task.matrix) as Record<string, string>, status: task.status, attempts };
}

/** The report of DESIGN.md: every task with its attempts, and every failure named. */
export async function runReport(db: Db, runId: string): Promise<RunReport> {
  const run = await db.selectFrom('runs').select(runColumns).where('id', '=', runId).executeTakeFirstOrThrow();
  const tasks = await db.selectFrom('tasks').select(['key', 'step', 'matrix', 'status', 'error'])
    .where('run_id', '=', runId).orderBy('seq').execute();
  const byTask = await attemptsByTask(db, runId);
  const reportTasks: ReportTask[] = [];
  const failures: ReportFailure[] = [];
  for (const task of tasks) {
    const reported = reportTask(task, byTask.get(task.key) ?? []);
    reportTasks.push(reported);
    if (task.status === 'failed') {
      const last = reported.attempts.at(-1);
      failures.push({ task: task.key, step: task.step, matrix: reported.matrix, worker: last?.worker ?? null, error: task.error ?? last?.error ?? 'failed' });
    }
  }
  const cost = await spentByRun(db, runId, Date.now());
  const spendCap = run.budget_spent ?? (run.status === 'running' ? await poolSpendCap(db, runId) : undefined);
  // A cancel writes its reason on every task it cancels; a rerun after it takes those again.
  const cancelReason = run.status === 'cancelled' ? tasks.find((task) => task.status === 'cancelled')?.error ?? undefined : undefined;
  return {
    run: {
      ...reportRun(run), ...(cost !== null && { cost_usd: roundUsd(cost) }), ...(spendCap !== undefined && { spend_cap: spendCap }),
      ...(cancelReason !== undefined && { cancel_reason: cancelReason }),
    },
    tasks: reportTasks,
    failures,
  };
}


export interface RunFilter {
  status?: RunStatus;
  pipeline?: string;
  /** A revision's full id or the start of it (revisionPrefix). */
  revision?: string;
  branch?: string;
  limit: number;
  /** A run id: list the runs created before it (the next page). */
  before?: string;
}

/** What a revision filter may be: the start of a git or hg id, in lower-case hex. */
export const revisionPrefix = /^[0-9a-f]{1,64}$/;

/** Runs newest first, as the report's `run`. */
export async function listRuns(db: Db, filter: RunFilter): Promise<RunReport['run'][]> {
  let query = db.selectFrom('runs').select(runColumns)
    .orderBy('created_at', 'desc').orderBy('id', 'desc').limit(filter.limit);
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.pipeline) query = query.where('pipeline', '=', filter.pipeline);
  if (filter.revision !== undefined) {
    // Checked here too: the prefix goes into a LIKE pattern, where '%' and '_' would match anything.
    if (!revisionPrefix.test(filter.revision)) throw new Error(`not a revision id or the start of one: ${filter.revision.slice(0, 80)}`);
    query = query.where('source_revision', 'like', `${filter.revision}%`);
  }
  if (filter.branch !== undefined) query = query.where('source_branch', '=', filter.branch);
  if (filter.before) {
    const cursor = await db.selectFrom('runs').select(['created_at', 'id']).where('id', '=', filter.before).executeTakeFirst();
    if (cursor) {
      query = query.where((eb) => eb.or([
        eb('created_at', '<', cursor.created_at),
        eb.and([eb('created_at', '=', cursor.created_at), eb('id', '<', cursor.id)]),
      ]));
    }
  }
  const rows = await query.execute();
  return rows.map(reportRun);
}

/** Tasks per status, for each of the runs. */
export async function taskCounts(db: Db, runIds: string[]): Promise<Map<string, Partial<Record<TaskStatus, number>>>> {
  const counts = new Map<string, Partial<Record<TaskStatus, number>>>(runIds.map((id) => [id, {}]));
  if (runIds.length === 0) return counts;
  const rows = await db.selectFrom('tasks').select(['run_id', 'status', (eb) => eb.fn.countAll<number>().as('n')])
    .where('run_id', 'in', runIds).groupBy(['run_id', 'status']).execute();
  for (const row of rows) counts.get(row.run_id)![row.status] = Number(row.n);
  return counts;
}

/** What the run was told when its pool's max_hourly_usd last held its starts back, if it ever did. */
async function poolSpendCap(db: Db, runId: string): Promise<string | undefined> {
  const capped = await db.selectFrom('run_pools').select('activity').where('run_id', '=', runId).where('spend_capped', '=', 1).executeTakeFirst();
  if (!capped) return undefined;
  const said = await db.selectFrom('events').select('message').where('run_id', '=', runId).where('kind', '=', 'run.capped')
    .orderBy('seq', 'desc').limit(1).executeTakeFirst();
  return said?.message ?? undefined;
}
