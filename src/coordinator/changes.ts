import type { RunEvent, RunEventKind } from '../engine/events.ts';
import type { CommitNotice } from '../store/commit-notices.ts';
import { insertEvents, type NewEventRow } from '../store/event-rows.ts';
import { inSharedWrite, lockEventOrder } from '../store/postgres-dialect.ts';
import type { Db } from '../store/store.ts';

type NewEvent = Omit<RunEvent, 'seq' | 'at' | 'run' | 'kind'>;
type Unwritten = { run: string; kind: RunEventKind } & NewEvent;

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
  #unwritten: Unwritten[] = [];

  constructor(now: number) {
    this.now = now;
  }

  /** An event of this operation: written with the others once the operation is done (see write). */
  event(run: string, kind: RunEventKind, fields: NewEvent = {}): void {
    this.#unwritten.push({ kind, ...fields, run });
  }

  /** Many events: a run's creation queues thousands of tasks at once. */
  eventBatch(run: string, events: ({ kind: RunEventKind } & NewEvent)[]): void {
    for (const event of events) this.#unwritten.push({ ...event, run });
  }

  /**
   * Writes the operation's events, numbered in the order they came: one statement for the
   * events of a task's finish and its next claim, where each used to take its own. A shared
   * transaction (PostgreSQL) takes the events lock here, as late as it can: see lockEventOrder.
   */
  async write(trx: Db): Promise<void> {
    if (this.#unwritten.length === 0) return;
    if (inSharedWrite()) await lockEventOrder(trx);
    const unwritten = this.#unwritten;
    this.#unwritten = [];
    for (let i = 0; i < unwritten.length; i += eventsPerStatement) {
      const batch = unwritten.slice(i, i + eventsPerStatement);
      const rows = batch.map((event) => this.#row(event));
      const last = await insertEvents(trx, rows);
      batch.forEach(({ run, kind, ...fields }, j) => this.events.push(this.#published(last - batch.length + 1 + j, run, kind, fields)));
    }
  }

  #row({ run, kind, ...fields }: Unwritten): NewEventRow {
    return {
      at: this.now, run_id: run, kind,
      task_key: fields.task ?? null, worker_id: fields.worker ?? null, worker_name: fields.worker_name ?? null,
      attempt: fields.attempt ?? null, message: fields.message ?? null,
    };
  }

  #published(seq: number, run: string, kind: RunEventKind, fields: NewEvent): RunEvent {
    return { seq, at: new Date(this.now).toISOString(), run, kind, ...fields };
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
