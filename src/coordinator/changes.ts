import type { RunEvent, RunEventKind } from '../engine/events.ts';
import type { CommitNotice } from '../store/commit-notices.ts';
import { insertEvent, insertEvents, type NewEventRow } from '../store/event-rows.ts';
import { inSharedWrite, lockEventOrder } from '../store/postgres-dialect.ts';
import type { Db } from '../store/store.ts';

type NewEvent = Omit<RunEvent, 'seq' | 'at' | 'run' | 'kind'>;

const eventsPerStatement = 500;

/**
 * What one transaction changed beyond its rows: the events it wrote, and the wake-ups
 * that may only happen once it has committed (a waiter woken earlier would not see the rows).
 */
export class Changes {
  readonly events: RunEvent[] = [];
  /** Pool key to the number of tasks that became claimable. */
  readonly queued = new Map<string, number>();
  /** Pool key to the time a delayed retry becomes claimable. */
  readonly delayed = new Map<string, number>();
  readonly finishedRuns = new Set<string>();
  readonly cancelledAttempts = new Set<string>();
  /** Workers told to stop: their waiting claims must hear it now. */
  readonly drained = new Set<string>();
  readonly now: number;
  #wroteEvents = false;

  constructor(now: number) {
    this.now = now;
  }

  /** A shared transaction (PostgreSQL) writes its events in commit order: see lockEventOrder. */
  async #readyForEvents(trx: Db): Promise<void> {
    if (!this.#wroteEvents && inSharedWrite()) await lockEventOrder(trx);
    this.#wroteEvents = true;
  }

  async event(trx: Db, run: string, kind: RunEventKind, fields: NewEvent = {}): Promise<void> {
    await this.#readyForEvents(trx);
    const seq = await insertEvent(trx, this.#row(run, kind, fields));
    this.events.push(this.#published(seq, run, kind, fields));
  }

  #row(run: string, kind: RunEventKind, fields: NewEvent): NewEventRow {
    return {
      at: this.now, run_id: run, kind,
      task_key: fields.task ?? null, worker_id: fields.worker ?? null, worker_name: fields.worker_name ?? null,
      attempt: fields.attempt ?? null, message: fields.message ?? null,
    };
  }

  #published(seq: number, run: string, kind: RunEventKind, fields: NewEvent): RunEvent {
    return { seq, at: new Date(this.now).toISOString(), run, kind, ...fields };
  }

  /** Many events in one statement: a run's creation queues thousands of tasks at once. */
  async eventBatch(trx: Db, run: string, events: ({ kind: RunEventKind } & NewEvent)[]): Promise<void> {
    await this.#readyForEvents(trx);
    for (let i = 0; i < events.length; i += eventsPerStatement) {
      const batch = events.slice(i, i + eventsPerStatement);
      const rows = batch.map(({ kind, ...fields }) => this.#row(run, kind, fields));
      const last = await insertEvents(trx, rows);
      batch.forEach(({ kind, ...fields }, j) => this.events.push(this.#published(last - batch.length + 1 + j, run, kind, fields)));
    }
  }

  queue(pool: string, count = 1): void {
    this.queued.set(pool, (this.queued.get(pool) ?? 0) + count);
  }

  delay(pool: string, at: number): void {
    this.delayed.set(pool, Math.min(at, this.delayed.get(pool) ?? Infinity));
  }

  /** Whether other coordinators on the store have anything to hear of this transaction. */
  get noticed(): boolean {
    return this.events.length > 0 || this.queued.size > 0 || this.delayed.size > 0 || this.drained.size > 0 || this.cancelledAttempts.size > 0;
  }

  /** What other coordinators on the store are told of this transaction. */
  notice(origin: string): CommitNotice {
    return {
      origin,
      runs: [...new Set(this.events.map((event) => event.run))],
      queued: [...this.queued],
      delayed: [...this.delayed],
      drained: [...this.drained],
      cancelled: [...this.cancelledAttempts],
    };
  }

  /** Another coordinator's transaction, as this process's jobs hear it (its events come through the store watch). */
  static of(notice: CommitNotice, now: number): Changes {
    const changes = new Changes(now);
    for (const [pool, count] of notice.queued) changes.queue(pool, count);
    for (const [pool, at] of notice.delayed) changes.delay(pool, at);
    for (const worker of notice.drained) changes.drained.add(worker);
    for (const attempt of notice.cancelled) changes.cancelledAttempts.add(attempt);
    return changes;
  }
}
