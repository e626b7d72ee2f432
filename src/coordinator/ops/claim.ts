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
import { rounds } from '../../util/rounds.ts';
import type { Db } from '../../store/store.ts';
import type { Changes } from '../changes.ts';
import type { RevisionOfRun, RunSpec } from '../run-specs.ts';
import { runsQueueOfPool } from '../../store/pool-runs.ts';
import { prepared, preparedRows } from '../../store/prepared.ts';
import { valueRows } from '../../store/value-rows.ts';
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

function claimingWorkers(db: Db, ids: [string][]) {
  return db.selectFrom('workers').select(['id', 'state', 'name', 'activity', 'tasks_done', 'pool_id', 'run_id']).where('id', 'in', ids.map(([id]) => id)).orderBy('id');
}

const selectWorkers = preparedRows<[string], ClaimingWorker & { id: string }>(1, (db, ids) => claimingWorkers(db, ids).compile());

/*
 * Claims in a shared transaction (PostgreSQL; see WriteMode) decide beside other claims, so
 * they lock what they decide on. Their workers, until they commit (in the order of their
 * ids, as every claim locks them): two claims of one worker (a long poll retried on another
 * coordinator) go one after the other, the second finding the worker busy with what the
 * first handed it. And the tasks, skipping those other claims hold (graphile-worker's
 * getJobs): no task is taken twice, and no claim waits for another.
 */
const lockWorkers = preparedRows<[string], ClaimingWorker & { id: string }>(1, (db, ids) => claimingWorkers(db, ids).forUpdate().compile());

/** A task as a claim took it: its status, attempts and checks counting the new attempt, and that attempt's id. */
interface TakenTask { key: string; step: string; matrix: string; status: TaskStatus; attempts: number; checks: number; active_attempt: string }

/**
 * Takes up to `attempts.length` of a run's tasks a worker of the pool could take now, first
 * queued first, each for the next of `attempts`: its attempt in flight, counted as a run's
 * (the task runs, past any retry delay) or as a done_if check's. One statement for the
 * claims of a batch. In a shared transaction it locks them, skipping those other claims
 * hold (graphile-worker's getJobs): no task is taken twice, and no claim waits for another.
 */
async function takeTasks(trx: Db, run: string, pool: string, now: number, attempts: string[]): Promise<TakenTask[]> {
  const take = inSharedWrite() ? takeTasksLocking : takeTasksFound;
  const taken = (await take(trx, attempts.map((attempt, i) => [i + 1, attempt]), { run, pool, now })).rows;
  const order = new Map(attempts.map((attempt, i) => [attempt, i]));
  return taken.sort((a, b) => order.get(a.active_attempt)! - order.get(b.active_attempt)!);
}

function takeTasksStatement(lock: boolean) {
  return preparedRows<[number, string], TakenTask, { run: string; pool: string; now: number }>(2, (db, planned, arg) => sql<TakenTask>`${valueRows('planned', [['n', 'integer'], ['attempt']], planned)},
    picked as (select key, row_number() over (order by seq) as n from (
      select key, seq from tasks where run_id = ${arg('run')} and pool = ${arg('pool')} and ${claimableAt(arg('now'))}
      order by seq limit ${sql.lit(planned.length)}${lock ? sql` for update skip locked` : sql``}
    ) as first_queued)
    update tasks set
      status = case status when 'queued' then 'running' else status end,
      attempts = case status when 'queued' then attempts + 1 else attempts end,
      checks = case status when 'checking' then checks + 1 else checks end,
      not_before = case status when 'queued' then null else not_before end,
      active_attempt = planned.attempt
    from picked join planned on planned.n = picked.n
    where tasks.run_id = ${arg('run')} and tasks.key = picked.key
    returning tasks.key, tasks.step, tasks.matrix, tasks.status, tasks.attempts, tasks.checks, tasks.active_attempt`.compile(db));
}

const takeTasksFound = takeTasksStatement(false);
const takeTasksLocking = takeTasksStatement(true);

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

/** The attempts of a batch's claims, in one statement: the ids it inserted (see insertWithFreshId). */
const insertAttempts = preparedRows<[string, string, string, AttemptKind, number, string, number], { id: string }>(7, (db, rows) =>
  db.insertInto('attempts').values(rows.map(([id, run, task, kind, number, worker, now]) => ({
    id, run_id: run, task_key: task, kind, number, worker_id: worker, outcome: null, exit_code: null, error: null, started_at: now, finished_at: null, script_ms: null, heartbeat_at: now,
  }))).onConflict((oc) => oc.column('id').doNothing()).returning('id').compile());

/** Workers busy with the attempts their claims took, their counts as read and their last tasks kept. */
const markBusy = preparedRows<[string, string, number], unknown>(3, (db, rows) => sql`${valueRows('busy', [['id'], ['name'], ['now', 'bigint']], rows)}
    update workers set state = 'busy', name = busy.name, last_seen_at = busy.now from busy where workers.id = busy.id`.compile(db));

const selectOpenAttempt = prepared<{ worker: string }, { id: string; run_id: string; task_key: string; kind: AttemptKind; number: number }>((db, arg) =>
  db.selectFrom('attempts').select(['id', 'run_id', 'task_key', 'kind', 'number'])
    .where('worker_id', '=', arg('worker')).where('outcome', 'is', null).limit(1));

const selectTask = prepared<{ run: string; key: string }, { key: string; step: string; matrix: string }>((db, arg) =>
  db.selectFrom('tasks').select(['key', 'step', 'matrix']).where('run_id', '=', arg('run')).where('key', '=', arg('key')));

/** A run's spec by id (cached: the dispatch path reads them on every claim). */
export type SpecOf = (runId: string) => Promise<RunSpec>;

/** A worker's claim: by its id, or as its transaction read it already (`worker`). */
export interface Claim { workerId: string; changes: Changes; worker?: ClaimingWorker }

/** claimEach of one worker. */
export async function claim(trx: Db, specOf: SpecOf, workerId: string, changes: Changes, known?: ClaimingWorker): Promise<ClaimResult> {
  return (await claimEach(trx, specOf, [{ workerId, changes, ...(known && { worker: known }) }]))[0]!;
}

/**
 * Hands each worker a claimable task of its pool, as a new attempt (see claimAll): the
 * claims of a batch, or the workers waiting for a pool that a transaction queued tasks in,
 * read their workers in one statement and take their tasks together. A busy worker that
 * claims lost the answer that gave it its attempt (the coordinator stopped before replying):
 * it gets that same attempt again, so the attempt is not orphaned.
 */
export async function claimEach(trx: Db, specOf: SpecOf, claims: Claim[]): Promise<ClaimResult[]> {
  const results: ClaimResult[] = [];
  // One claim of a worker at a time: its second (a long poll retried) after its first, its row read again.
  for (const [n, round] of [...rounds(claims, ({ workerId }) => workerId)].entries()) {
    const unread = round.filter(({ item }) => n > 0 || !item.worker).map(({ item }): [string] => [item.workerId]);
    const read = new Map(unread.length === 0 ? [] : (await (inSharedWrite() ? lockWorkers : selectWorkers)(trx, unread)).rows.map((worker) => [worker.id, worker]));
    const claimers: (Claimer & { i: number })[] = [];
    for (const { item: { workerId, changes, worker: known }, i } of round) {
      const worker = (n === 0 ? known : undefined) ?? read.get(workerId);
      if (!worker) throw new Error(`no worker ${workerId}`);
      if (worker.state !== 'idle' && worker.state !== 'busy') {
        results[i] = { kind: 'stop', reason: `worker is ${worker.state}` };
        continue;
      }
      const handed = worker.state === 'busy' ? await handedBefore(trx, specOf, workerId, worker) : undefined;
      if (handed) results[i] = handed;
      else claimers.push({ i, workerId, worker, changes });
    }
    const claimed = await claimAll(trx, specOf, claimers);
    const busy = claimers.flatMap(({ i, workerId, changes }, j): [string, string, number][] => {
      const result = claimed[j]!;
      results[i] = result;
      return result.kind === 'attempt' ? [[workerId, result.workerName, changes.now]] : [];
    });
    if (busy.length > 0) await markBusy(trx, busy);
  }
  return results;
}

/** The attempt a busy worker was handed already, if it is still open. */
async function handedBefore(trx: Db, specOf: SpecOf, workerId: string, worker: ClaimingWorker): Promise<ClaimResult | undefined> {
  const open = await selectOpenAttempt.first(trx, { worker: workerId });
  const task = open && await selectTask.first(trx, { run: open.run_id, key: open.task_key });
  if (!open || !task) return undefined;
  const spec = await specOf(open.run_id);
  return { kind: 'attempt', workerName: activeName(worker.tasks_done, task.key), attempt: attemptOrder(spec, task, open.kind, open.number, open.id, workerId) };
}

/** The pool a worker serves, as its row names it (a row from before pools were kept: its run's activity). */
export function poolOfWorker(worker: Pick<ClaimingWorker, 'pool_id' | 'run_id' | 'activity'>): string {
  return worker.pool_id ?? `${worker.run_id}/${worker.activity}`;
}

/** A free worker that claims, as its transaction left it. */
export interface Claimer { workerId: string; worker: ClaimingWorker; changes: Changes }

/**
 * Hands each free worker a claimable task of its pool, as a new attempt, or none: of the run
 * that has the fewest of the pool's workers, the oldest among equals (see nextRun), since a
 * pool serves every run with an activity in it; the claims of a batch share its
 * statements. Their workers' rows are the caller's to write.
 */
export async function claimAll(trx: Db, specOf: SpecOf, claimers: Claimer[]): Promise<ClaimResult[]> {
  const pools = new Map<string, number[]>();
  claimers.forEach(({ worker }, i) => {
    const pool = poolOfWorker(worker);
    pools.set(pool, [...pools.get(pool) ?? [], i]);
  });
  const taken: ({ runId: string; task: TakenTask } | undefined)[] = [];
  for (const [pool, indices] of pools) {
    const tasks = await takeFromPool(trx, pool, claimers[indices[0]!]!.changes.now, indices.length);
    tasks.forEach((task, j) => { taken[indices[j]!] = task; });
  }
  const attempts = claimers.flatMap(({ workerId, changes }, i) => {
    const found = taken[i];
    if (!found) return [];
    const kind: AttemptKind = found.task.status === 'checking' ? 'check' : 'run';
    const number = kind === 'run' ? found.task.attempts : found.task.checks;
    return [{ i, id: found.task.active_attempt, runId: found.runId, task: found.task, kind, number, workerId, now: changes.now }];
  });
  const inserted = new Set(attempts.length === 0 ? [] : (await insertAttempts(trx, attempts.map((a) => [a.id, a.runId, a.task.key, a.kind, a.number, a.workerId, a.now]))).rows.map(({ id }) => id));
  const results: ClaimResult[] = claimers.map(() => ({ kind: 'none' }));
  for (const a of attempts) {
    // Its planned id was another attempt's already (see insertWithFreshId): the attempt takes a new one.
    const id = inserted.has(a.id) ? a.id : await insertWithFreshId('a', (fresh) => insertAttempt.changed(trx, { id: fresh, run: a.runId, task: a.task.key, kind: a.kind, number: a.number, worker: a.workerId, now: a.now }));
    if (id !== a.id) await pointTask.changed(trx, { run: a.runId, key: a.task.key, attempt: id });
    const { worker, changes } = claimers[a.i]!;
    const workerName = activeName(worker.tasks_done, a.task.key);
    if (a.kind === 'run') changes.event(a.runId, 'task.started', { task: a.task.key, worker: a.workerId, worker_name: workerName, attempt: a.number });
    results[a.i] = { kind: 'attempt', workerName, attempt: attemptOrder(await specOf(a.runId), a.task, a.kind, a.number, id, a.workerId) };
  }
  return results;
}

/**
 * Takes up to `count` tasks free workers of the pool take next, each with its run, in the
 * order claims one after the other would have. In a shared transaction a run's tasks may
 * all be held by other claims: the next run in turn is tried.
 */
async function takeFromPool(trx: Db, pool: string, now: number, count: number): Promise<{ runId: string; task: TakenTask }[]> {
  const waiting: (WaitingRun & { activity: string })[] = [];
  for (const run of await runsQueueOfPool.all(trx, { pool, now })) {
    if (run.key !== null) waiting.push({ runId: run.run_id, createdAt: run.created_at, running: 0, activity: run.activity });
  }
  // Shares matter only between runs that both wait: one run alone costs no count.
  if (waiting.length > 1) {
    for (const run of waiting) run.running = Number((await countRunning.first(trx, { run: run.runId, pool: run.activity }))?.n ?? 0);
  }
  const taken: { runId: string; task: TakenTask }[] = [];
  while (taken.length < count && waiting.length > 0) {
    // Each claim to the run with the fewest of the pool's workers then, counting the claims before it.
    const wanted = new Map<WaitingRun & { activity: string }, number>();
    for (let n = taken.length; n < count; n++) {
      const chosen = waiting.find((w) => w.runId === nextRun(waiting))!;
      chosen.running++;
      wanted.set(chosen, (wanted.get(chosen) ?? 0) + 1);
    }
    for (const [run, wants] of wanted) {
      const tasks = await takeTasks(trx, run.runId, run.activity, now, Array.from({ length: wants }, () => newId('a')));
      taken.push(...tasks.map((task) => ({ runId: run.runId, task })));
      if (tasks.length < wants) waiting.splice(waiting.indexOf(run), 1);
    }
  }
  return taken;
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
