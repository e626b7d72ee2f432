import { workersToStart } from '../../engine/provisioning.ts';
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
  /** Set when a start is held back (its latest workers failed): look again after this long. */
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
  // Counting past what could change the answer would cost a scan of a long queue.
  const enough = maxWorkers + pool.idle + pool.starting;
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
  const n = workersToStart({ maxWorkers, queued: queued.length, ...pool }, options);
  const started: WorkerToStart[] = [];
  for (let i = 0; i < n; i++) {
    const workerId = newId('w');
    const registrationToken = newSecret();
    const name = waitingName(0, null, activity);
    await trx.insertInto('workers').values({
      id: workerId, run_id: spec.id, activity, provider: spec.pipeline.activities[activity]!.provider, name,
      state: 'starting', tasks_done: 0, last_task: null, registration_hash: hashSecret(registrationToken),
      credential_hash: null, machine: null, error: null, created_at: changes.now,
      registered_at: null, last_seen_at: null, stopped_at: null, machine_at: null, hourly_usd: null, billing: null,
    }).execute();
    await changes.event(trx, spec.id, 'worker.starting', { worker: workerId, worker_name: name });
    started.push({ workerId, activity, registrationToken });
  }
  return { starts: started };
}
