import { sql } from 'kysely';
import { nextRun, type WaitingRun } from '../../engine/fair-share.ts';
import type { WorkerState } from '../../engine/fleet-view.ts';
import type { AttemptKind, TaskStatus } from '../../engine/report.ts';
import { activeName } from '../../engine/worker-name.ts';
import type { Script, Step } from '../../pipeline/types.ts';
import { withAxes } from '../../pipeline/cache-key.ts';
import { axisVariable } from '../../pipeline/variables.ts';
import type { AttemptOrder } from '../../protocol/worker.ts';
import { insertWithFreshId } from '../../store/fresh-id.ts';
import { newId } from '../../util/ids.ts';
import type { Db } from '../../store/store.ts';
import type { Changes } from '../changes.ts';
import type { RevisionOfRun, RunSpec } from '../run-specs.ts';
import { runsQueueOfPool } from '../../store/pool-runs.ts';
import { prepared } from '../../store/prepared.ts';
import { claimableAt } from '../../store/claimable.ts';
import { inSharedWrite } from '../../store/postgres-dialect.ts';

export type ClaimResult =
  | { kind: 'attempt'; attempt: AttemptOrder; workerName: string }
  | { kind: 'none' }
  | { kind: 'stop'; reason: string };

const checkTimeoutMs = 10 * 60_000;

/** What a claim needs of its worker. */
export interface ClaimingWorker { state: WorkerState; name: string; activity: string; tasks_done: number; pool_id: string | null; run_id: string }

function claimingWorker(db: Db, id: string) {
  return db.selectFrom('workers').select(['state', 'name', 'activity', 'tasks_done', 'pool_id', 'run_id']).where('id', '=', id);
}

export const selectWorker = prepared<{ id: string }, ClaimingWorker>((db, arg) => claimingWorker(db, arg('id')));

/*
 * A claim in a shared transaction (PostgreSQL; see WriteMode) decides beside other claims, so
 * it locks what it decides on. The worker, until it commits: two claims of one worker (a
 * long poll retried on another coordinator) go one after the other, the second finding the
 * worker busy with what the first handed it. And the task, skipping those other claims hold
 * (graphile-worker's getJobs): no task is taken twice, and no claim waits for another.
 */
const lockWorker = prepared<{ id: string }, ClaimingWorker>((db, arg) => claimingWorker(db, arg('id')).forUpdate());

/** A task as a claim took it: its status, attempts and checks counting the new attempt. */
interface TakenTask { key: string; step: string; matrix: string; status: TaskStatus; attempts: number; checks: number }

const takenColumns = ['key', 'step', 'matrix', 'status', 'attempts', 'checks'] as const;

/**
 * What a claim writes on the task it takes: its attempt in flight, counted as a run's (the
 * task runs, past any retry delay) or as a done_if check's. The attempt's kind and number
 * are read back from what it wrote.
 */
function takeTask(db: Db, attempt: string) {
  return db.updateTable('tasks').set({
    status: sql<TaskStatus>`case status when 'queued' then 'running' else status end`,
    attempts: sql<number>`case status when 'queued' then attempts + 1 else attempts end`,
    checks: sql<number>`case status when 'checking' then checks + 1 else checks end`,
    not_before: sql<number | null>`case status when 'queued' then null else not_before end`,
    active_attempt: attempt,
  });
}

/** Takes the task found claimable in this transaction, which nothing else decides beside. */
const takeFound = prepared<{ run: string; key: string; attempt: string }, TakenTask>((db, arg) =>
  takeTask(db, arg('attempt')).where('run_id', '=', arg('run')).where('key', '=', arg('key')).returning(takenColumns));

/** Takes a run's first task a worker could take now, locked, skipping those other claims hold (PostgreSQL only). */
const takeFirstUnlocked = prepared<{ run: string; pool: string; now: number; attempt: string }, TakenTask>((db, arg) =>
  takeTask(db, arg('attempt')).where('run_id', '=', arg('run')).where('key', '=', (eb) => eb.selectFrom('tasks').select('key')
    .where('run_id', '=', arg('run')).where('pool', '=', arg('pool')).where(claimableAt(arg('now')))
    .orderBy('seq').limit(sql.lit(1)).forUpdate().skipLocked())
    .returning(takenColumns));

/** The attempt a task took, should its first id have been taken by another attempt. */
const pointTask = prepared<{ run: string; key: string; attempt: string }, unknown>((db, arg) =>
  db.updateTable('tasks').set({ active_attempt: arg('attempt') }).where('run_id', '=', arg('run')).where('key', '=', arg('key')));

/** Attempts of a run's activity in flight: its share of the pool's workers now. */
const countRunning = prepared<{ run: string; pool: string }, { n: number }>((db, arg) =>
  db.selectFrom('tasks').select((eb) => eb.fn.countAll<number>().as('n'))
    .where('run_id', '=', arg('run')).where('pool', '=', arg('pool')).where('active_attempt', 'is not', null));

const insertAttempt = prepared<{ id: string; run: string; task: string; kind: AttemptKind; number: number; worker: string; now: number }, unknown>((db, arg) =>
  db.insertInto('attempts').values({
    id: arg('id'), run_id: arg('run'), task_key: arg('task'), kind: arg('kind'), number: arg('number'), worker_id: arg('worker'),
    outcome: null, exit_code: null, error: null, started_at: arg('now'), finished_at: null, script_ms: null, heartbeat_at: arg('now'),
  }).onConflict((oc) => oc.column('id').doNothing()));

/**
 * The worker busy with its new attempt. After a finish in the same transaction (see
 * finishAndClaim) its count and last task are the finish's, written here once for both;
 * otherwise its count as read, and its last task kept (`lastTask` null).
 */
const workerBusy = prepared<{ id: string; name: string; now: number; tasksDone: number; lastTask: string | null }, unknown>((db, arg) =>
  db.updateTable('workers').set({
    state: 'busy', name: arg('name'), last_seen_at: arg('now'), tasks_done: arg('tasksDone'), last_task: sql<string | null>`coalesce(${arg('lastTask')}, last_task)`,
  }).where('id', '=', arg('id')));

const selectOpenAttempt = prepared<{ worker: string }, { id: string; run_id: string; task_key: string; kind: AttemptKind; number: number }>((db, arg) =>
  db.selectFrom('attempts').select(['id', 'run_id', 'task_key', 'kind', 'number'])
    .where('worker_id', '=', arg('worker')).where('outcome', 'is', null).limit(1));

const selectTask = prepared<{ run: string; key: string }, { key: string; step: string; matrix: string }>((db, arg) =>
  db.selectFrom('tasks').select(['key', 'step', 'matrix']).where('run_id', '=', arg('run')).where('key', '=', arg('key')));

/** A run's spec by id (cached: the dispatch path reads them on every claim). */
export type SpecOf = (runId: string) => Promise<RunSpec>;

/**
 * Hands a claimable task of the worker's pool to it, as a new attempt: of the run that has
 * the fewest of the pool's workers, the oldest among equals (see nextRun), since a pool
 * serves every run with an activity in it. A busy worker that claims lost the answer that
 * gave it its attempt (the coordinator stopped before replying): it gets that same attempt
 * again, so the attempt is not orphaned. `known` is the worker as this transaction left it
 * (the finish of its last attempt), which spares reading it again; `finished`, what that
 * finish left unwritten of its row, written with the attempt taken.
 */
export async function claim(
  trx: Db, specOf: SpecOf, workerId: string, changes: Changes, known?: ClaimingWorker, finished?: { tasksDone: number; lastTask: string },
): Promise<ClaimResult> {
  const worker = known ?? await (inSharedWrite() ? lockWorker : selectWorker).first(trx, { id: workerId });
  if (!worker) throw new Error(`no worker ${workerId}`);
  if (worker.state !== 'idle' && worker.state !== 'busy') return { kind: 'stop', reason: `worker is ${worker.state}` };

  if (worker.state === 'busy') {
    const open = await selectOpenAttempt.first(trx, { worker: workerId });
    const task = open && await selectTask.first(trx, { run: open.run_id, key: open.task_key });
    if (open && task) {
      const spec = await specOf(open.run_id);
      return { kind: 'attempt', workerName: activeName(worker.tasks_done, task.key), attempt: attemptOrder(spec, task, open.kind, open.number, open.id, workerId) };
    }
  }

  const planned = newId('a');
  const found = await takeNext(trx, worker.pool_id ?? `${worker.run_id}/${worker.activity}`, changes.now, planned);
  if (!found) return { kind: 'none' };
  const { task, runId } = found;
  const spec = await specOf(runId);

  const kind = task.status === 'checking' ? 'check' : 'run';
  const number = kind === 'run' ? task.attempts : task.checks;
  const workerName = activeName(worker.tasks_done, task.key);

  const id = await insertWithFreshId('a', (fresh) => insertAttempt.changed(trx, { id: fresh, run: runId, task: task.key, kind, number, worker: workerId, now: changes.now }), planned);
  if (id !== planned) await pointTask.changed(trx, { run: runId, key: task.key, attempt: id });
  await workerBusy.changed(trx, { id: workerId, name: workerName, now: changes.now, tasksDone: finished?.tasksDone ?? worker.tasks_done, lastTask: finished?.lastTask ?? null });
  if (kind === 'run') {
    changes.event(runId, 'task.started', { task: task.key, worker: workerId, worker_name: workerName, attempt: number });
  }
  return { kind: 'attempt', workerName, attempt: attemptOrder(spec, task, kind, number, id, workerId) };
}

/**
 * Takes the task a free worker of the pool takes next, for `attempt`, and answers it with its
 * run. In a shared transaction the task is taken again under a row lock, skipping those other
 * claims hold: when all of a run's are held, the next run in turn is tried. Otherwise nothing
 * else decides meanwhile: the task is the one found first.
 */
async function takeNext(trx: Db, pool: string, now: number, attempt: string): Promise<{ runId: string; task: TakenTask } | undefined> {
  const waiting: (WaitingRun & { activity: string; key: string })[] = [];
  for (const run of await runsQueueOfPool.all(trx, { pool, now })) {
    if (run.key !== null) waiting.push({ runId: run.run_id, createdAt: run.created_at, running: 0, activity: run.activity, key: run.key });
  }
  // Shares matter only between runs that both wait: one run alone costs no count.
  if (waiting.length > 1) {
    for (const run of waiting) run.running = Number((await countRunning.first(trx, { run: run.runId, pool: run.activity }))?.n ?? 0);
  }
  const locking = inSharedWrite();
  while (waiting.length > 0) {
    const chosen = waiting.find((w) => w.runId === nextRun(waiting))!;
    const task = locking
      ? await takeFirstUnlocked.first(trx, { run: chosen.runId, pool: chosen.activity, now, attempt })
      : await takeFound.first(trx, { run: chosen.runId, key: chosen.key, attempt });
    if (task) return { runId: chosen.runId, task };
    waiting.splice(waiting.indexOf(chosen), 1);
  }
  return undefined;
}

function attemptOrder(spec: RunSpec, task: { key: string; step: string; matrix: string }, kind: AttemptKind, number: number, id: string, workerId: string): AttemptOrder {
  const step = spec.pipeline.steps[task.step]!;
  const matrix = JSON.parse(task.matrix) as Record<string, string>;
  const env = taskEnv(step, matrix, { run: spec.id, task: task.key, attempt: number, worker: workerId }, spec.revision);
  let script = kind === 'run' ? step.run : step.doneIf!.script;
  if (spec.options.fakeWorkers) {
    const fake = fakeScript(kind, script);
    script = fake.script;
    Object.assign(env, fake.env);
  }
  return {
    id, kind, number, run: spec.id, source_digest: spec.sourceDigest, task: task.key, step: step.name,
    script,
    env,
    ...(kind === 'run' && step.artifacts && !spec.options.fakeWorkers && { artifacts: step.artifacts }),
    ...(kind === 'run' && step.cache && !spec.options.fakeWorkers && {
      cache: {
        key: withAxes(step.cache.key, matrix), paths: step.cache.paths,
        restore_keys: step.cache.restoreKeys.map((key) => withAxes(key, matrix)), save: !spec.isTry,
      },
    }),
    timeout_ms: kind === 'run' ? step.timeoutMs : Math.min(step.timeoutMs ?? checkTimeoutMs, checkTimeoutMs),
  };
}

/** DESIGN: matrix values as upper-case names, the step's env, then Slipway's own. */
export function taskEnv(
  step: Step, matrix: Record<string, string>, ids: { run: string; task: string; attempt: number; worker: string }, source: RevisionOfRun,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [axis, value] of Object.entries(matrix)) env[axisVariable(axis)] = value;
  Object.assign(env, step.env);
  env.SLIPWAY_RUN = ids.run;
  env.SLIPWAY_TASK = ids.task;
  env.SLIPWAY_STEP = step.name;
  env.SLIPWAY_ATTEMPT = String(ids.attempt);
  env.SLIPWAY_WORKER = ids.worker;
  // Always set, empty when unknown (a working tree has no revision, a plain directory no repository),
  // so a task never takes them from the worker's own environment.
  env.SLIPWAY_REVISION = source.revision ?? '';
  env.SLIPWAY_BRANCH = source.branch ?? '';
  env.SLIPWAY_REPOSITORY = source.repository ?? '';
  return env;
}

/**
 * --fake-workers: print what would have run. The description travels in the environment,
 * so no pipeline text is ever pasted into a shell line. A check says "not done" so the run
 * goes on to show every task it would start.
 */
export function fakeScript(kind: AttemptKind | 'prepare' | 'init' | 'cleanup', script: Script): { script: Script; env: Record<string, string> } {
  const what = script.kind === 'file' ? script.path : script.text.trim().split('\n')[0] + (script.text.trim().includes('\n') ? ' …' : '');
  const print = `printf 'would %s: %s\\n' "$SLIPWAY_FAKE_KIND" "$SLIPWAY_FAKE_SCRIPT"`;
  return {
    script: { kind: 'inline', text: kind === 'check' ? `${print}; exit 1` : print },
    env: { SLIPWAY_FAKE_KIND: kind, SLIPWAY_FAKE_SCRIPT: what },
  };
}
