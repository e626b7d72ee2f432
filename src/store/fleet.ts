import { machineCost, type BillingMode } from '../engine/cost.ts';
import type { FleetWorker, PoolSummary, WorkerAttempt, WorkerState } from '../engine/fleet-view.ts';
import type { Pipeline } from '../pipeline/types.ts';
import { describeMachine } from '../providers/machine-text.ts';
import type { MachineHandle } from '../providers/provider.ts';
import { claimableTask } from './claimable.ts';
import type { Db } from './store.ts';
import { idsPerQuery, liveWorkerStates } from './worker-rows.ts';

/** The fleet's queries for the user API: workers with their machine, attempt and cost; pools as they are now. */

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(Number(ms)).toISOString());

/** A worker's price and machine times, as the store keeps them. */
export interface PricedWorker {
  hourly_usd: number | null;
  billing: BillingMode | null;
  machine_at: number | null;
  stopped_at: number | null;
}

/** What a worker's machine cost so far, as it is billed, counted up to `now` while it runs; null when it has no known price. */
export function workerCost(worker: PricedWorker, now: number): number | null {
  // hourly_usd and billing are written together (priceOf gives both or neither).
  if (worker.hourly_usd === null || worker.billing === null || worker.machine_at === null) return null;
  return machineCost({
    hourlyPrice: worker.hourly_usd, billing: worker.billing,
    startedAtMs: Number(worker.machine_at), stoppedAtMs: Number(worker.stopped_at ?? now),
  });
}

/** USD to a hundredth of a cent: what the API shows. */
export const roundUsd = (usd: number): number => Math.round(usd * 10_000) / 10_000;

export interface WorkerFilter {
  /** The run it was started for. */
  run?: string;
  /** As the query string gives it, unchecked: a state no worker is in matches none. */
  state?: string;
  pool?: string;
}

/** Workers newest first (at most 1000), each with its machine, the attempt it has in hand and its cost so far. */
export async function listWorkers(db: Db, filter: WorkerFilter, now: number): Promise<FleetWorker[]> {
  let query = db.selectFrom('workers')
    .select(['id', 'name', 'run_id', 'activity', 'pool_id', 'provider', 'state', 'tasks_done', 'machine', 'hourly_usd', 'billing', 'machine_at', 'created_at', 'stopped_at', 'error'])
    .orderBy('created_at', 'desc').limit(1000);
  if (filter.run !== undefined) query = query.where('run_id', '=', filter.run);
  if (filter.state !== undefined) query = query.where('state', '=', filter.state as WorkerState);
  if (filter.pool !== undefined) query = query.where('pool_id', '=', filter.pool);
  const rows = await query.execute();
  const inHand = await openAttempts(db, rows.filter((w) => liveWorkerStates.includes(w.state)).map((w) => w.id));
  return rows.map((w) => {
    const cost = workerCost(w, now);
    return {
      id: w.id, name: w.name, run: w.run_id, activity: w.activity, pool: w.pool_id, provider: w.provider, state: w.state, tasks_done: w.tasks_done,
      machine: w.machine === null ? null : describeMachine(JSON.parse(w.machine) as MachineHandle),
      current: inHand.get(w.id) ?? null,
      hourly_usd: w.hourly_usd, cost_usd: cost === null ? null : roundUsd(cost),
      started_at: iso(w.created_at)!, stopped_at: iso(w.stopped_at), stop_reason: w.error,
    };
  });
}

/** The attempt each of the workers has in hand: only a live worker can have one. */
async function openAttempts(db: Db, workerIds: string[]): Promise<Map<string, WorkerAttempt>> {
  const found = new Map<string, WorkerAttempt>();
  for (let i = 0; i < workerIds.length; i += idsPerQuery) {
    const rows = await db.selectFrom('attempts').select(['id', 'run_id', 'task_key', 'kind', 'number', 'worker_id', 'started_at'])
      .where('worker_id', 'in', workerIds.slice(i, i + idsPerQuery)).where('outcome', 'is', null).execute();
    for (const a of rows) {
      found.set(a.worker_id, { run: a.run_id, task: a.task_key, attempt: a.id, number: a.number, kind: a.kind, since: iso(a.started_at)! });
    }
  }
  return found;
}

/**
 * The pools that serve a running run or have a live worker: their runs, live workers, cap
 * and queue. A pool's cap is the largest max_workers of its runs, as the provisioner takes it.
 */
export async function poolSummaries(db: Db): Promise<PoolSummary[]> {
  const running = await db.selectFrom('runs').select(['id', 'spec']).where('status', '=', 'running').orderBy('created_at').orderBy('id').execute();
  const runningIds = running.map((r) => r.id);
  const specs = new Map(running.map((r) => [r.id, JSON.parse(r.spec) as Pipeline]));
  const served = await inChunks(runningIds, (ids) => db.selectFrom('run_pools').select(['run_id', 'activity', 'pool_id']).where('run_id', 'in', ids).execute());
  const queued = await inChunks(runningIds, (ids) => db.selectFrom('tasks').select(['run_id', 'pool', (eb) => eb.fn.countAll<number>().as('n')])
    .where('run_id', 'in', ids).where(claimableTask).groupBy(['run_id', 'pool']).execute());
  const live = await db.selectFrom('workers').select(['pool_id', 'run_id', 'activity', 'provider', (eb) => eb.fn.countAll<number>().as('n')])
    .where('state', 'in', liveWorkerStates).where('pool_id', 'is not', null).groupBy(['pool_id', 'run_id', 'activity', 'provider']).execute();

  // A pool that serves no running run has its live workers' runs' settings.
  const missing = [...new Set(live.map((w) => w.run_id).filter((id) => !specs.has(id)))];
  for (const row of await inChunks(missing, (ids) => db.selectFrom('runs').select(['id', 'spec']).where('id', 'in', ids).execute())) {
    specs.set(row.id, JSON.parse(row.spec) as Pipeline);
  }

  const pools = new Map<string, PoolSummary>();
  const pool = (id: string, runId: string, activity: string, provider: string): PoolSummary => {
    let summary = pools.get(id);
    if (!summary) {
      summary = { id, activity, provider, runs: [], max_workers: 0, live: 0, queued: 0 };
      pools.set(id, summary);
    }
    const settings = specs.get(runId)?.activities[activity];
    if (settings) summary.provider = settings.provider;
    summary.max_workers = Math.max(summary.max_workers, settings?.maxWorkers ?? 0);
    return summary;
  };
  const poolOf = new Map<string, PoolSummary>();
  const order = new Map(runningIds.map((id, i) => [id, i]));
  for (const row of served.sort((a, b) => order.get(a.run_id)! - order.get(b.run_id)!)) {
    const summary = pool(row.pool_id, row.run_id, row.activity, specs.get(row.run_id)?.activities[row.activity]?.provider ?? '');
    summary.runs.push(row.run_id);
    poolOf.set(`${row.run_id}\u0000${row.activity}`, summary);
  }
  for (const row of queued) {
    const summary = poolOf.get(`${row.run_id}\u0000${row.pool}`);
    if (summary) summary.queued += Number(row.n);
  }
  for (const row of live) {
    // A pool that serves running runs takes its cap from them alone; one that serves none, from its live workers' runs.
    const known = pools.get(row.pool_id!);
    const summary = known && known.runs.length > 0 ? known : pool(row.pool_id!, row.run_id, row.activity, row.provider);
    summary.live += Number(row.n);
  }
  return [...pools.values()];
}

/** The activities of the latest 50 runs, each with its run's live workers and queued tasks. */
export async function activitySummaries(db: Db): Promise<{ run: string; name: string; provider: string; max_workers: number; live: number; queued: number }[]> {
  const runs = await db.selectFrom('runs').select(['id', 'spec']).orderBy('created_at', 'desc').limit(50).execute();
  const ids = runs.map((r) => r.id);
  if (ids.length === 0) return [];
  const live = await db.selectFrom('workers').select(['run_id', 'activity', (eb) => eb.fn.countAll<number>().as('n')])
    .where('run_id', 'in', ids).where('state', 'in', liveWorkerStates).groupBy(['run_id', 'activity']).execute();
  const queued = await db.selectFrom('tasks').select(['run_id', 'pool', (eb) => eb.fn.countAll<number>().as('n')])
    .where('run_id', 'in', ids).where(claimableTask).groupBy(['run_id', 'pool']).execute();
  const count = (rows: { run_id: string; n: number }[], run: string, match: (row: never) => boolean) =>
    Number(rows.find((row) => row.run_id === run && match(row as never))?.n ?? 0);
  return runs.flatMap((run) => Object.values((JSON.parse(run.spec) as Pipeline).activities).map((activity) => ({
    run: run.id, name: activity.name, provider: activity.provider, max_workers: activity.maxWorkers,
    live: count(live, run.id, (row: { activity: string }) => row.activity === activity.name),
    queued: count(queued, run.id, (row: { pool: string }) => row.pool === activity.name),
  })));
}

async function inChunks<T>(ids: string[], query: (chunk: string[]) => Promise<T[]>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < ids.length; i += idsPerQuery) out.push(...await query(ids.slice(i, i + idsPerQuery)));
  return out;
}
