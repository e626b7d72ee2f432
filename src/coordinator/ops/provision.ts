import { queueWorthAWorker, workersToStart, type PoolPace } from '../../engine/provisioning.ts';
import { givesUp, startPauseMs, type GiveUpLimits } from '../../engine/worker-stop.ts';
import { waitingName } from '../../engine/worker-name.ts';
import { hashSecret, newId, newSecret } from '../../util/ids.ts';
import type { Db } from '../../store/store.ts';
import type { Changes } from '../changes.ts';
import type { RunSpec } from '../run-specs.ts';
import { failTask } from './settle-task.ts';
import { claimableTask } from '../../store/claimable.ts';

/** How many earlier workers the give-up rule looks at: enough to see a streak start. */
const historyLength = 50;
/** How many recent attempts and worker starts a ramping pool's pace is taken from. */
const paceSamples = 20;
/** The longest queue counted to see whether one more worker pays (a scan of the queue costs). */
const paceQueueLook = 5000;

/**
 * How fast a pool's recent attempts went and its workers came up. Before any attempt has
 * finished, the oldest running one tells as much: attempts take at least its age (none
 * has started yet when the first worker just came up). When
 * that is still shorter than a worker's start, the answer is to look again once it is not
 * (`lookAgainInMs`): until then a new worker would likely come up to an empty queue.
 */
async function poolPace(trx: Db, runId: string, activity: string, now: number): Promise<{ pace?: PoolPace; waitMs?: number }> {
  const starts = await trx.selectFrom('workers').select(['created_at', 'registered_at'])
    .where('run_id', '=', runId).where('activity', '=', activity).where('registered_at', 'is not', null)
    .orderBy('registered_at', 'desc').limit(paceSamples).execute();
  if (starts.length === 0) return {};
  const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;
  const startMs = mean(starts.map((w) => w.registered_at! - w.created_at));
  const attempts = () => trx.selectFrom('attempts').innerJoin('workers', 'workers.id', 'attempts.worker_id')
    .where('workers.run_id', '=', runId).where('workers.activity', '=', activity);
  const finished = await attempts().select(['attempts.started_at', 'attempts.finished_at'])
    .where('attempts.finished_at', 'is not', null).orderBy('attempts.finished_at', 'desc').limit(paceSamples).execute();
  if (finished.length > 0) return { pace: { attemptMs: mean(finished.map((a) => a.finished_at! - a.started_at)), startMs } };
  const oldest = await attempts().select('attempts.started_at').where('attempts.finished_at', 'is', null)
    .orderBy('attempts.started_at').limit(1).executeTakeFirst();
  // A worker that just came up has not taken its first attempt yet: it is about to.
  const age = oldest ? now - oldest.started_at : 0;
  return age >= startMs ? { pace: { attemptMs: age, startMs } } : { waitMs: Math.ceil(startMs - age) };
}

/** Fails every task waiting on an activity that cannot get a worker, saying why. */
async function giveUp(trx: Db, spec: RunSpec, activity: string, why: string, last: { id: string; error: string | null }, changes: Changes): Promise<void> {
  const error = `activity ${activity}: ${why} (last, ${last.id}: ${last.error ?? 'no reason given'})`;
  const stuck = await trx.selectFrom('tasks').select('key')
    .where('run_id', '=', spec.id).where('pool', '=', activity).where(claimableTask).execute();
  for (const task of stuck) await failTask(trx, spec.id, task.key, error, changes);
}

export interface WorkerToStart {
  workerId: string;
  activity: string;
  registrationToken: string;
}

export interface Provisioning {
  starts: WorkerToStart[];
  /** Set when a start is held back (its latest workers failed, or a ramping pool waits to see its pace): look again after this long. */
  lookAgainInMs?: number;
}

/**
 * Decides how many workers the pool needs now and records each one (state `starting`,
 * with its registration token) BEFORE any provider call, so a crash in between leaves a
 * row to reconcile instead of an unknown machine.
 */
export async function provisionPool(
  trx: Db, spec: RunSpec, activity: string, limits: GiveUpLimits, changes: Changes, options: { rampUp?: boolean } = {},
): Promise<Provisioning> {
  const run = await trx.selectFrom('runs').select('status').where('id', '=', spec.id).executeTakeFirstOrThrow();
  if (run.status !== 'running' || spec.options.noProvision) return { starts: [] };
  const states = await trx.selectFrom('workers').select(['state', (eb) => eb.fn.countAll<number>().as('n')])
    .where('run_id', '=', spec.id).where('activity', '=', activity)
    .where('state', 'in', ['starting', 'idle', 'busy', 'draining']).groupBy('state').execute();
  const count = (state: string) => Number(states.find((s) => s.state === state)?.n ?? 0);
  const pool = { starting: count('starting'), idle: count('idle'), busy: count('busy'), draining: count('draining') };
  const maxWorkers = spec.pipeline.activities[activity]!.maxWorkers;
  const up = pool.idle + pool.busy;
  const live = up + pool.starting + pool.draining;
  // A ramping pool with workers up and room for more asks whether one more would pay.
  const { pace, waitMs } = options.rampUp && up > 0 && live < maxWorkers ? await poolPace(trx, spec.id, activity, changes.now) : {};
  if (waitMs !== undefined) return { starts: [], lookAgainInMs: waitMs };
  // Counting past what could change the answer would cost a scan of a long queue.
  const enough = Math.max(maxWorkers + pool.idle + pool.starting, pace ? Math.min(paceQueueLook, queueWorthAWorker(pace, up + pool.starting)) : 0);
  const queued = await trx.selectFrom('tasks').select('key')
    .where('run_id', '=', spec.id).where('pool', '=', activity).where(claimableTask)
    .where((eb) => eb.or([eb('not_before', 'is', null), eb('not_before', '<=', changes.now)]))
    .limit(enough).execute();
  if (queued.length > 0 && pool.starting + pool.idle + pool.busy + pool.draining === 0) {
    const latest = await trx.selectFrom('workers').select(['stop_cause', 'error', 'id', 'created_at', 'registered_at', 'stopped_at', 'tasks_done'])
      .where('run_id', '=', spec.id).where('activity', '=', activity)
      .orderBy('created_at', 'desc').orderBy('id').limit(historyLength).execute();
    const history = latest.map((w) => ({
      cause: w.stop_cause, createdAt: w.created_at, registered: w.registered_at !== null, worked: w.tasks_done > 0, stoppedAt: w.stopped_at,
    }));
    const why = givesUp(history, changes.now, limits);
    if (why) {
      await giveUp(trx, spec, activity, why, latest[0]!, changes);
      return { starts: [] };
    }
    const pause = startPauseMs(history, changes.now);
    if (pause > 0) return { starts: [], lookAgainInMs: pause };
  }
  const n = workersToStart({ maxWorkers, queued: queued.length, ...pool }, { rampUp: options.rampUp, pace });
  const started: WorkerToStart[] = [];
  for (let i = 0; i < n; i++) {
    const workerId = newId('w');
    const registrationToken = newSecret();
    const name = waitingName(0, null, activity);
    await trx.insertInto('workers').values({
      id: workerId, run_id: spec.id, activity, provider: spec.pipeline.activities[activity]!.provider, name,
      state: 'starting', tasks_done: 0, last_task: null, registration_hash: hashSecret(registrationToken),
      credential_hash: null, machine: null, error: null, created_at: changes.now,
      registered_at: null, last_seen_at: null, heartbeat_timeout_ms: null, owner: null, stopped_at: null, machine_at: null, hourly_usd: null, billing: null,
    }).execute();
    await changes.event(trx, spec.id, 'worker.starting', { worker: workerId, worker_name: name });
    started.push({ workerId, activity, registrationToken });
  }
  return { starts: started };
}
