import { sql } from 'kysely';
import { openTaskStatuses, runStatusOf, whenReady } from '../../engine/task-state.ts';
import { handStartedProvider, type TaskStatus } from '../../engine/report.ts';
import { runningRunsOfPool } from '../../store/pool-runs.ts';
import { prepared } from '../../store/prepared.ts';
import type { Db } from '../../store/store.ts';
import type { Changes } from '../changes.ts';
import { poolOf } from '../pool-signals.ts';
import type { RunSpec } from '../run-specs.ts';
import { fleetPoolName } from '../../engine/pool-identity.ts';

/** SQLite takes at most 32,766 bound values in one statement. */
const keysPerStatement = 500;

const releaseOne = prepared<{ run: string; key: string }, unknown>((db, arg) =>
  db.updateTable('tasks').set({ pending_needs: sql`pending_needs - 1` })
    .where('run_id', '=', arg('run')).where('status', '=', 'waiting')
    .where('key', 'in', db.selectFrom('task_needs').select('key').where('run_id', '=', arg('run')).where('needs_key', '=', arg('key'))));

// Its status alone, so the index (run_id, status) answers without reading the task.
const anyOpenTask = prepared<{ run: string }, { status: TaskStatus }>((db, arg) =>
  db.selectFrom('tasks').select('status')
    .where('run_id', '=', arg('run')).where('status', 'in', openTaskStatuses).limit(1));

function dependentsOf(trx: Db, runId: string, keys: string[]) {
  return trx.selectFrom('task_needs').select('key')
    .where('run_id', '=', runId).where('needs_key', 'in', keys);
}

/** A task ended succeeded or skipped: the tasks waiting on it may now be ready. */
export async function releaseDependents(trx: Db, spec: RunSpec, { key, step }: { key: string; step: string }, changes: Changes): Promise<void> {
  // A task's needs were drawn from its step's: a step no step needs has no task waiting on it.
  if (!Object.values(spec.pipeline.steps).some((other) => other.needs.includes(step))) return;
  const released = await releaseOne.changed(trx, { run: spec.id, key });
  if (released === 0) return;
  const ready = await trx.selectFrom('tasks').select(['key', 'step'])
    .where('run_id', '=', spec.id).where('status', '=', 'waiting').where('pending_needs', '=', 0)
    .where('key', 'in', dependentsOf(trx, spec.id, [key]))
    .execute();
  await markReady(trx, spec, ready, changes);
}

/** Moves tasks that need nothing more to their check or their queue, one statement per destination. */
export async function markReady(trx: Db, spec: RunSpec, tasks: { key: string; step: string }[], changes: Changes): Promise<void> {
  const groups = new Map<string, { status: 'checking' | 'queued'; pool: string; keys: string[] }>();
  for (const task of tasks) {
    const next = whenReady(spec.pipeline.steps[task.step]!, spec.selection);
    const id = `${next.status}/${next.pool}`;
    const group = groups.get(id) ?? { ...next, keys: [] };
    group.keys.push(task.key);
    groups.set(id, group);
  }
  for (const { status, pool, keys } of groups.values()) {
    for (let i = 0; i < keys.length; i += keysPerStatement) {
      await trx.updateTable('tasks').set({ status, pool })
        .where('run_id', '=', spec.id).where('key', 'in', keys.slice(i, i + keysPerStatement)).execute();
    }
    changes.queue(poolOf(spec, pool), keys.length);
    changes.eventBatch(spec.id, keys.map((task) => ({ kind: status === 'checking' ? 'task.checking' : 'task.queued', task })));
  }
}

/** A task fails for good: it records why, and everything that needs it is blocked. */
export async function failTask(
  trx: Db, runId: string, key: string, error: string, changes: Changes, who: { worker?: string; worker_name?: string; attempt?: number } = {},
): Promise<void> {
  await trx.updateTable('tasks').set({ status: 'failed', error, active_attempt: null })
    .where('run_id', '=', runId).where('key', '=', key).execute();
  changes.event(runId, 'task.failed', { task: key, ...who, message: error });
  await blockDependents(trx, runId, key, changes);
  await finishRunIfDone(trx, runId, changes);
}

/** Everything that needs the task, directly or not, is blocked. */
export async function blockDependents(trx: Db, runId: string, key: string, changes: Changes): Promise<void> {
  let frontier = [key];
  while (frontier.length > 0) {
    const blocked = await trx.selectFrom('tasks').select('key')
      .where('run_id', '=', runId).where('status', '=', 'waiting')
      .where('key', 'in', dependentsOf(trx, runId, frontier))
      .execute();
    if (blocked.length === 0) return;
    const cause = frontier.length === 1 ? frontier[0] : `${frontier.length} tasks`;
    await trx.updateTable('tasks').set({ status: 'blocked', error: `needs ${cause}, which did not succeed` })
      .where('run_id', '=', runId).where('key', 'in', blocked.map((t) => t.key)).execute();
    for (const task of blocked) {
      changes.event(runId, 'task.blocked', { task: task.key, message: `needs ${cause}, which did not succeed` });
    }
    frontier = blocked.map((t) => t.key);
  }
}

/** Ends the run once no task is open. */
export async function finishRunIfDone(trx: Db, runId: string, changes: Changes): Promise<void> {
  if (await anyOpenTask.first(trx, { run: runId })) return;
  const rows = await trx.selectFrom('tasks').select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .where('run_id', '=', runId).groupBy('status').execute();
  const counts: Partial<Record<TaskStatus, number>> = {};
  for (const r of rows) counts[r.status] = Number(r.n);
  const status = runStatusOf(counts, false);
  const updated = await trx.updateTable('runs').set({ status, finished_at: changes.now })
    .where('id', '=', runId).where('status', '=', 'running').executeTakeFirst();
  if (Number(updated.numUpdatedRows) === 0) return;
  changes.finishedRuns.add(runId);
  const summary = Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(', ');
  changes.event(runId, 'run.finished', { message: `${status}: ${summary}` });
  await drainWorkersOfRun(trx, runId, changes);
}

/**
 * A finished run's pools that no other running run shares are not needed any more: their
 * workers are told to stop, and their credentials end: every worker route refuses them
 * from this commit on (401), which the agent takes as told to stop. Such a worker has no way
 * left to say it stopped; its going is its stop (see workerGone). Workers of a pool another
 * run still uses go on serving it, and so do those of an operator's pool (`[pools.NAME]`),
 * whose credentials end with their workers alone.
 */
export async function drainWorkersOfRun(trx: Db, runId: string, changes: Changes): Promise<void> {
  const pools = await trx.selectFrom('run_pools').select('pool_id').where('run_id', '=', runId).execute();
  const idle: string[] = [];
  for (const { pool_id } of pools) {
    // An operator's pool outlives its runs: its workers stop when idle (and min_idle keeps some).
    if (fleetPoolName(pool_id) !== undefined) continue;
    const others = (await runningRunsOfPool.all(trx, { pool: pool_id })).filter((run) => run.run_id !== runId);
    if (others.length === 0) idle.push(pool_id);
  }
  if (idle.length === 0) return;
  const workers = await trx.selectFrom('workers').select(['id', 'name', 'run_id', 'state', 'provider'])
    .where('pool_id', 'in', idle).where('state', 'in', ['starting', 'idle', 'busy']).execute();
  // An idle worker started by hand stopped as far as the store can tell: no machine of it
  // will ever exit here. Its credential is refused from now on (it is no longer live), and
  // its hash is kept only until the agent presents it once more and is refused (see
  // credentialRefused): then it has heard, and whoever waits for it (`slipway run`) stops waiting.
  const handStarted = workers.filter((w) => w.provider === handStartedProvider && w.state === 'idle').map((w) => w.id);
  await trx.updateTable('workers').set({ credential_hash: null }).where('pool_id', 'in', idle).where('credential_hash', 'is not', null)
    .$if(handStarted.length > 0, (query) => query.where('id', 'not in', handStarted)).execute();
  if (handStarted.length > 0) {
    await trx.updateTable('workers').set({ state: 'stopped', stop_cause: 'told', stopped_at: changes.now, registration_hash: null, error: handStartedStop })
      .where('id', 'in', handStarted).execute();
    for (const w of workers.filter((w) => handStarted.includes(w.id))) {
      changes.event(w.run_id, 'worker.stopped', { worker: w.id, worker_name: w.name, message: handStartedStop });
    }
  }
  const draining = workers.filter((w) => !handStarted.includes(w.id)).map((w) => w.id);
  if (draining.length > 0) await trx.updateTable('workers').set({ state: 'draining' }).where('id', 'in', draining).execute();
  for (const pool of idle) changes.drained.add(pool);
}

/** Why a worker started by hand stopped when its run ended. */
export const handStartedStop = 'its run ended; told at its next request';
