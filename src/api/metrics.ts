import { Hono } from 'hono';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { afterAttempt } from '../engine/retry.ts';
import { lastEventSeq } from '../store/event-history.ts';
import {
  attemptsStartedSince, endedAttemptsPerKindAndOutcome, queuedTasksPerActivity, readinessEvents, retryOfTask, runningActivities,
  runningAmong, runsPerStatus, workersPerActivityAndState, type ReadinessEvent, type StartedAttempt,
} from '../store/metrics-queries.ts';
import type { Db } from '../store/store.ts';
import { requireScope, type UserAccess } from './user-routes.ts';

const liveStates = ['starting', 'idle', 'busy', 'draining'] as const;
const runStatuses = ['running', 'succeeded', 'failed', 'cancelled'] as const;
/**
 * An attempt carries the time its operation began, and group commit may write it a little
 * later than attempts that began after it: scans look back this far for ones not yet seen.
 */
const lateCommitMs = 10_000;

/**
 * `GET /metrics`: Prometheus text, for a token that may read. Every value is read from the
 * store when scraped, so the dispatch path carries no metrics code.
 */
export function metricsRoutes(db: Db, access: UserAccess = { anonymousRead: false }): Hono {
  const registry = slipwayMetrics(db);
  const app = new Hono();
  app.get('/metrics', requireScope(db, access)('read'), async (c) => c.body(await registry.metrics(), 200, { 'content-type': registry.contentType }));
  return app;
}

/**
 * The metrics in a registry of their own (never prom-client's global one: each app, and
 * each test, has its own store). Every collect() awaits its query and only then sets its
 * values, synchronously, so two scrapes at once cannot interleave a reset with a set.
 */
export function slipwayMetrics(db: Db): Registry {
  const registry = new Registry();
  const dispatch = new DispatchLatency();

  new Gauge({
    name: 'slipway_queued_tasks', help: 'Tasks of running runs waiting for a worker of the activity (a retry waiting out its delay included)',
    labelNames: ['activity'], registers: [registry],
    async collect() {
      const [activities, rows] = await Promise.all([runningActivities(db), queuedTasksPerActivity(db)]);
      this.reset();
      for (const activity of activities) this.set({ activity }, 0);
      for (const row of rows) this.set({ activity: row.pool }, row.n);
    },
  });

  new Gauge({
    name: 'slipway_workers', help: 'Live workers per activity and state',
    labelNames: ['activity', 'state'], registers: [registry],
    async collect() {
      const [activities, rows] = await Promise.all([runningActivities(db), workersPerActivityAndState(db, liveStates)]);
      this.reset();
      for (const activity of activities) for (const state of liveStates) this.set({ activity, state }, 0);
      for (const row of rows) this.set({ activity: row.activity, state: row.state }, row.n);
    },
  });

  // A Counter, not a Gauge, so the exposition says `counter` as a `_total` name must. The
  // store holds the count, so each scrape resets it and adds the count back: prom-client
  // allows both in collect(), and the value only ever grows as the table does.
  new Counter({
    name: 'slipway_attempts_total', help: 'Ended attempts by kind (run, or done_if check) and outcome',
    labelNames: ['kind', 'outcome'], registers: [registry],
    async collect() {
      const rows = await endedAttemptsPerKindAndOutcome(db);
      this.reset();
      for (const row of rows) this.inc({ kind: row.kind, outcome: row.outcome }, row.n);
    },
  });

  new Histogram({
    name: 'slipway_dispatch_latency_seconds', help: 'From a task becoming claimable to its attempt starting',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry],
    async collect() {
      for (const seconds of await dispatch.next(db)) this.observe(seconds);
    },
  });

  new Gauge({
    name: 'slipway_runs', help: 'Runs by status', labelNames: ['status'], registers: [registry],
    async collect() {
      const rows = await runsPerStatus(db);
      this.reset();
      for (const status of runStatuses) this.set({ status }, 0);
      for (const row of rows) this.set({ status: row.status }, row.n);
    },
  });

  return registry;
}

/**
 * Dispatch latencies, found by reading what the store gained since the previous scrape:
 * events by their sequence number (the primary key), attempts by their start time. A task's
 * readiness is remembered from its event until an attempt of it starts. The first scrape
 * reads the runs in progress from their start, and runs that ended since this began.
 */
class DispatchLatency {
  readonly #since = Date.now();
  #eventSeq = 0;
  #first = true;
  /** Attempts that started from then on may not all have been seen. */
  #attemptsFrom = 0;
  /** Attempts seen that started within the look-back, by id. */
  readonly #seen = new Map<string, number>();
  /** When each task (`run task`) last became claimable, until an attempt of it starts. */
  readonly #ready = new Map<string, number>();
  #queue: Promise<unknown> = Promise.resolve();

  /** Seconds from claimable to started, for every attempt that started since the last call. */
  next(db: Db): Promise<number[]> {
    // One scan at a time: two scrapes at once must not count an attempt twice.
    const result = this.#queue.then(() => this.#scan(db));
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async #scan(db: Db): Promise<number[]> {
    const finishedSince = Math.max(this.#since, this.#attemptsFrom);
    // Attempts first, events second: an attempt's readiness event committed before it did.
    const attempts = (await attemptsStartedSince(db, this.#attemptsFrom, finishedSince)).filter((a) => !this.#seen.has(a.id));
    const last = await lastEventSeq(db);
    const ready = await readinessEvents(db, this.#eventSeq, last, this.#first ? finishedSince : undefined);
    this.#first = false;
    this.#eventSeq = Math.max(this.#eventSeq, last);

    // In time order, readiness before a start at the same millisecond (one transaction).
    type Moment = { at: number; ready?: ReadinessEvent; attempt?: StartedAttempt };
    const timeline: Moment[] = [
      ...ready.map((e) => ({ at: Number(e.at), ready: e })),
      ...attempts.map((a) => ({ at: Number(a.started_at), attempt: a })),
    ].sort((a, b) => a.at - b.at);
    const latencies: number[] = [];
    for (const { at, ready: event, attempt } of timeline) {
      if (event?.task_key != null) this.#ready.set(`${event.run_id} ${event.task_key}`, await readyAt(db, event));
      if (!attempt) continue;
      this.#seen.set(attempt.id, at);
      const key = `${attempt.run_id} ${attempt.task_key}`;
      const since = this.#ready.get(key);
      // A check tried again after an error has no event of its own: it is not measured.
      if (since === undefined) continue;
      this.#ready.delete(key);
      latencies.push(Math.max(0, at - since) / 1000);
    }
    await this.#forget(db, attempts);
    return latencies;
  }

  /** Keeps the look-back window and the readiness of running runs' tasks only. */
  async #forget(db: Db, attempts: { started_at: number }[]): Promise<void> {
    const newest = attempts.reduce((max, a) => Math.max(max, Number(a.started_at)), this.#attemptsFrom + lateCommitMs);
    this.#attemptsFrom = newest - lateCommitMs;
    for (const [id, at] of this.#seen) if (at < this.#attemptsFrom) this.#seen.delete(id);
    if (this.#ready.size === 0) return;
    const keys = [...this.#ready.keys()];
    const runIds = [...new Set(keys.map((key) => key.slice(0, key.indexOf(' '))))];
    const running = await runningAmong(db, runIds);
    for (const key of keys) if (!running.has(key.slice(0, key.indexOf(' ')))) this.#ready.delete(key);
  }
}

/** When the event made its task claimable: a retry waits out the delay its policy gave it. */
async function readyAt(db: Db, event: ReadinessEvent): Promise<number> {
  const at = Number(event.at);
  if (event.kind !== 'task.retrying' || event.attempt === null) return at;
  const retry = await retryOfTask(db, event.run_id, event.task_key!);
  if (!retry) return at;
  // The same call end-attempt.ts made when it scheduled the retry. (A rerun between that
  // retry and this scrape moves retry_base on; the delay read then is the policy's first.)
  const next = afterAttempt(retry.policy, event.attempt - retry.base, 'failed', at);
  return next.status === 'queued' ? next.notBefore : at;
}
