import { paceWorthInMs, queueWorthAWorker, workersToStart, workersWithinSpend, type PoolPace } from '../../engine/provisioning.ts';
import { formatUsd } from '../../util/money.ts';
import type { OperatorPool } from '../../pipeline/types.ts';
import { givesUp, startPauseMs, type GiveUpLimits } from '../../engine/worker-stop.ts';
import { waitingName } from '../../engine/worker-name.ts';
import { hashSecret, newSecret } from '../../util/ids.ts';
import { insertWithFreshId } from '../../store/fresh-id.ts';
import type { Db } from '../../store/store.ts';
import type { Changes } from '../changes.ts';
import type { RunSpec } from '../run-specs.ts';
import type { SpecOf } from './claim.ts';
import { failTask } from './settle-task.ts';
import { warmWorkers } from './warm-workers.ts';
import { claimableAt, claimableTask } from '../../store/claimable.ts';
import { attemptsOfPool, recentBootMs } from '../../store/pool-history.ts';
import { runsQueueOfPool } from '../../store/pool-runs.ts';

/** How many earlier workers the give-up rule looks at: enough to see a streak start. */
const historyLength = 50;
/** How many recent attempts a ramping pool's pace is taken from (its workers' starts: recentBootMs). */
const paceSamples = 20;
/** The longest queue counted to see whether one more worker pays (a scan of the queue costs). */
const paceQueueLook = 5000;

/**
 * How fast a pool's recent attempts went and its workers came up: the latest attempts that
 * ended, and those still running at the time they have run so far. Before any attempt has
 * ended, the oldest running one tells as much: attempts take at least its age (none has
 * started yet when the first worker just came up). When that is still shorter than a
 * worker's start, the answer is to look again once it is not (`waitMs`): until then a new
 * worker would likely come up to an empty queue.
 */
async function poolPace(trx: Db, pool: string, now: number): Promise<{ pace?: PoolPace; waitMs?: number }> {
  const startMs = await recentBootMs(trx, pool);
  if (startMs === undefined) return {};
  // Read by time (index attempts_finished): the latest finished, the oldest of the few open.
  const attempts = () => attemptsOfPool(trx, pool);
  const finished = await attempts().select(['attempts.started_at', 'attempts.finished_at'])
    .where('attempts.finished_at', 'is not', null).orderBy('attempts.finished_at', 'desc').limit(paceSamples).execute();
  const running = await attempts().select('attempts.started_at').where('attempts.finished_at', 'is', null)
    .orderBy('attempts.started_at').limit(paceSamples).execute();
  const times = [...finished.map((a) => a.finished_at! - a.started_at), ...running.map((a) => now - a.started_at)];
  if (finished.length > 0) {
    return { pace: { attemptMs: times.reduce((sum, ms) => sum + ms, 0) / times.length, sampled: times.length, running: running.length, startMs } };
  }
  // A worker that just came up has not taken its first attempt yet: it is about to.
  const age = running.length > 0 ? now - running[0]!.started_at : 0;
  return age >= startMs ? { pace: { attemptMs: age, sampled: 1, running: 1, startMs } } : { waitMs: Math.ceil(startMs - age) };
}

/** Fails every task waiting on a pool that cannot get a worker, in every run it serves, saying why. */
async function giveUp(trx: Db, runs: PoolRun[], why: string, changes: Changes): Promise<void> {
  for (const run of runs) {
    const error = `activity ${run.activity}: ${why}`;
    const stuck = await trx.selectFrom('tasks').select('key')
      .where('run_id', '=', run.spec.id).where('pool', '=', run.activity).where(claimableTask).execute();
    for (const task of stuck) await failTask(trx, run.spec.id, task.key, error, changes);
  }
}

/** Like max_workers, the largest max_hourly_usd of the runs sharing a pool; none if one of them sets none. */
function largestSpendCap(runs: PoolRun[]): number | undefined {
  const caps = runs.map((run) => run.spec.pipeline.activities[run.activity]!.maxHourlyUsd);
  return caps.length === 0 || caps.includes(undefined) ? undefined : Math.max(...caps as number[]);
}

/** Tells each run, once, that the pool's max_hourly_usd holds back the workers its tasks wait for. */
async function tellOfSpendCap(trx: Db, runs: PoolRun[], why: string, changes: Changes): Promise<void> {
  for (const run of runs) {
    await trx.updateTable('run_pools').set({ spend_capped: 1 }).where('run_id', '=', run.spec.id).where('activity', '=', run.activity).execute();
    changes.event(run.spec.id, 'run.capped', { message: `activity ${run.activity}: ${why}` });
  }
}

/** A run the pool serves: its spec and its activity in the pool. */
interface PoolRun {
  spec: RunSpec;
  activity: string;
  /** Whether it was told that the pool's max_hourly_usd holds its starts back. */
  toldOfSpendCap?: boolean;
}

export interface WorkerToStart {
  workerId: string;
  /** The run it is started for (its origin: its settings, logs and first source tree come from it). */
  runId: string;
  activity: string;
  registrationToken: string;
}

export interface Provisioning {
  starts: WorkerToStart[];
  /** Set when a start is held back (its latest workers failed, or a ramping pool waits to see its pace): look again after this long. */
  lookAgainInMs?: number;
  /** Set when the provider's fleet-wide cap held back starts the pool wanted. */
  held?: ProviderHold;
}

/** Starts a provider's fleet-wide cap held back: the pool waits for a worker of any pool on it to stop. */
export interface ProviderHold {
  provider: string;
  cap: number;
  /** Live workers on the provider, in every pool. */
  live: number;
  /** The run the starts were for, and its activity: where the hold is said. */
  runId: string;
  activity: string;
}

export interface ProvisionOptions {
  rampUp?: (provider: string) => boolean;
  /** The operator's pool this one is (`[pools.NAME]`), as the config defines it now: its cap, provider and warm workers. */
  operator?: OperatorPool;
  /** `[providers.X] max_workers`: never more live workers on provider X, in every pool together. */
  providerCaps?: Partial<Record<string, number>>;
  /** The coordinator process that starts the workers: theirs to judge while it lives (see liveCoordinators). */
  owner?: string;
  /** What one machine of `provider` with these settings costs per hour, if anything (see Provider.hourlyUsd). */
  hourlyUsd?: (provider: string, instance?: Record<string, unknown>) => number | undefined;
}

const liveStates = ['starting', 'idle', 'busy', 'draining'] as const;

/** The pool's newest run, whatever its status: the origin of a warm worker started while no run of the pool is running. */
async function newestRun(trx: Db, pool: string, specOf: SpecOf): Promise<PoolRun | undefined> {
  // From the newest runs down (index runs_created), not through every run the pool ever
  // served: a CROSS JOIN keeps SQLite to that order (see attemptStartsSince).
  const row = await trx.selectFrom('runs').crossJoin('run_pools').whereRef('run_pools.run_id', '=', 'runs.id')
    .select(['run_pools.run_id', 'run_pools.activity']).where('run_pools.pool_id', '=', pool)
    .orderBy('runs.created_at', 'desc').orderBy('runs.id', 'desc').limit(1).executeTakeFirst();
  if (!row) return undefined;
  const spec = await specOf(row.run_id);
  return spec.options.noProvision ? undefined : { spec, activity: row.activity };
}

/**
 * Decides how many workers the pool needs now, for the tasks queued in every run it serves,
 * and records each one (state `starting`, with its registration token) BEFORE any provider
 * call, so a crash in between leaves a row to reconcile instead of an unknown machine.
 * A new worker is started for the oldest run with queued tasks; once up, it serves them all.
 * An operator's pool also keeps `min_idle` workers up with nothing queued; and no start goes
 * past the provider's fleet-wide cap, which the answer says when it held one back (`held`).
 */
export async function provisionPool(
  trx: Db, pool: string, specOf: SpecOf, limits: GiveUpLimits, changes: Changes, options: ProvisionOptions = {},
): Promise<Provisioning> {
  const rows = await runsQueueOfPool.all(trx, { pool, now: changes.now });
  const runs: PoolRun[] = [];
  /** Runs with a task a worker could take now. */
  const waitingRuns = new Set<string>();
  for (const row of rows) {
    const spec = await specOf(row.run_id);
    if (spec.options.noProvision) continue;
    runs.push({ spec, activity: row.activity, toldOfSpendCap: row.spend_capped !== 0 });
    if (row.key !== null) waitingRuns.add(row.run_id);
  }
  const { operator } = options;
  const minIdle = operator ? await warmWorkers(trx, pool, operator.minIdle, operator.maxWorkers, changes.now) : 0;
  // Warm workers are started for the oldest running run of the pool, else for its newest run
  // (a worker needs a run to log to and to start in); a pool no run has named yet has none.
  const warmOrigin = minIdle > 0 ? runs[0] ?? await newestRun(trx, pool, specOf) : undefined;
  if (runs.length === 0 && !warmOrigin) return { starts: [] };
  const states = await trx.selectFrom('workers').select(['state', (eb) => eb.fn.countAll<number>().as('n')])
    .where('pool_id', '=', pool).where('state', 'in', liveStates).groupBy('state').execute();
  const count = (state: string) => Number(states.find((s) => s.state === state)?.n ?? 0);
  const workers = { starting: count('starting'), idle: count('idle'), busy: count('busy'), draining: count('draining') };
  // An operator's pool has its own cap; otherwise the pool's cap is the largest any of its
  // runs asks for: runs that share workers share the cap.
  const maxWorkers = operator?.maxWorkers ?? Math.max(...runs.map((r) => r.spec.pipeline.activities[r.activity]!.maxWorkers));
  const up = workers.idle + workers.busy;
  const live = up + workers.starting + workers.draining;
  const first = runs[0] ?? warmOrigin!;
  const machines = operator ?? first.spec.pipeline.activities[first.activity]!;
  const provider = machines.provider;
  const maxHourlyUsd = operator ? operator.maxHourlyUsd : largestSpendCap(runs);
  const hourlyUsd = options.hourlyUsd?.(provider, machines.instance);
  const affordable = workersWithinSpend(maxHourlyUsd, hourlyUsd);
  const rampUp = options.rampUp?.(provider) === true;
  // A ramping pool with workers up and room for more asks whether one more would pay.
  const { pace, waitMs } = rampUp && up > 0 && live < maxWorkers ? await poolPace(trx, pool, changes.now) : {};
  if (waitMs !== undefined) return { starts: [], lookAgainInMs: waitMs };
  // Counting past what could change the answer would cost a scan of a long queue.
  const enough = Math.max(maxWorkers + workers.idle + workers.starting, pace ? Math.min(paceQueueLook, queueWorthAWorker(pace, up + workers.starting)) : 0);
  let queued = 0;
  let origin: PoolRun | undefined;
  for (const run of runs) {
    if (queued >= enough) break;
    if (!waitingRuns.has(run.spec.id)) continue;
    const waiting = await trx.selectFrom('tasks').select('key')
      .where('run_id', '=', run.spec.id).where('pool', '=', run.activity).where(claimableAt(changes.now))
      .limit(enough - queued).execute();
    if (waiting.length > 0) origin ??= run;
    queued += waiting.length;
  }
  // Below min_idle with nothing queued, warm workers are started for the warm origin.
  origin ??= warmOrigin && workers.idle + workers.starting < minIdle ? warmOrigin : undefined;
  if (!origin) return { starts: [] };
  if (live === 0) {
    const latest = await trx.selectFrom('workers').select(['stop_cause', 'error', 'id', 'created_at', 'registered_at', 'stopped_at', 'tasks_done'])
      .where('pool_id', '=', pool)
      .orderBy('created_at', 'desc').orderBy('id').limit(historyLength).execute();
    const history = latest.map((w) => ({
      cause: w.stop_cause, createdAt: w.created_at, registered: w.registered_at !== null, worked: w.tasks_done > 0, stoppedAt: w.stopped_at,
    }));
    const why = givesUp(history, changes.now, limits);
    if (why) {
      const last = latest[0]!;
      await giveUp(trx, runs, `${why} (last, ${last.id}: ${last.error ?? 'no reason given'})`, changes);
      return { starts: [] };
    }
    const pause = startPauseMs(history, changes.now);
    if (pause > 0) return { starts: [], lookAgainInMs: pause };
  }
  if (affordable === 0) {
    await giveUp(trx, runs, `one machine costs ${formatUsd(hourlyUsd!)}/h, more than the pool's max_hourly_usd (${formatUsd(maxHourlyUsd!)}/h)`, changes);
    return { starts: [] };
  }
  const state = { maxWorkers: Math.min(maxWorkers, affordable), minIdle, queued, ...workers };
  const wanted = workersToStart(state, { rampUp, pace });
  // Held back by the pace, the pool looks again when its running attempts have made one more worker pay.
  const paceLook = pace && wanted === 0 && queued > 0 && queued < queueWorthAWorker(pace, up + workers.starting) ? paceWorthInMs(pace, up + workers.starting, queued) : undefined;
  if (affordable < maxWorkers && wanted < workersToStart({ ...state, maxWorkers }, { rampUp, pace })) {
    const why = `new workers wait: the pool's max_hourly_usd (${formatUsd(maxHourlyUsd!)}/h) pays for ${affordable} machines at ${formatUsd(hourlyUsd!)}/h; queued tasks start as workers free up`;
    await tellOfSpendCap(trx, runs.filter((run) => waitingRuns.has(run.spec.id) && !run.toldOfSpendCap), why, changes);
  }
  const cap = options.providerCaps?.[provider];
  let n = wanted;
  let held: ProviderHold | undefined;
  if (cap !== undefined && wanted > 0) {
    const onProvider = await trx.selectFrom('workers').select((eb) => eb.fn.countAll<number>().as('n'))
      .where('provider', '=', provider).where('state', 'in', liveStates).executeTakeFirst();
    const liveOnProvider = Number(onProvider?.n ?? 0);
    n = workersToStart(state, { rampUp, pace, providerRoom: cap - liveOnProvider });
    if (n < wanted) held = { provider, cap, live: liveOnProvider, runId: origin.spec.id, activity: origin.activity };
  }
  const started: WorkerToStart[] = [];
  const { spec, activity } = origin;
  for (let i = 0; i < n; i++) {
    const registrationToken = newSecret();
    const name = waitingName(0, null, activity);
    const workerId = await insertWithFreshId('w', (id) => trx.insertInto('workers').values({
      id, run_id: spec.id, activity, pool_id: pool, provider, name,
      state: 'starting', tasks_done: 0, last_task: null, registration_hash: hashSecret(registrationToken),
      credential_hash: null, machine: null, error: null, created_at: changes.now,
      registered_at: null, last_seen_at: null, heartbeat_timeout_ms: null, owner: options.owner ?? null, stopped_at: null, machine_at: null, hourly_usd: null, billing: null,
    }).onConflict((oc) => oc.column('id').doNothing()).executeTakeFirst());
    changes.event(spec.id, 'worker.starting', { worker: workerId, worker_name: name });
    started.push({ workerId, runId: spec.id, activity, registrationToken });
  }
  return { starts: started, ...(held && { held }), ...(paceLook !== undefined && { lookAgainInMs: paceLook }) };
}
