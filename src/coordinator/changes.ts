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
   * Writes the events of a transaction's operations, numbered in the order they came, in
   * one statement (a task's finish and its next claim, and those of the tasks whose ends
   * share the commit). A shared transaction (PostgreSQL) takes the events lock here, as late
   * as it can: see lockEventOrder. `notice`: a commit notice's payload the last statement
   * sends too (PostgreSQL); whether it went, which it does when there were events to write.
   */
  static async write(trx: Db, all: Changes[], notice?: string): Promise<boolean> {
    const unwritten = all.flatMap((changes) => changes.#take());
    if (unwritten.length === 0) return false;
    if (inSharedWrite()) await lockEventOrder(trx);
    for (let i = 0; i < unwritten.length; i += eventsPerStatement) {
      const batch = unwritten.slice(i, i + eventsPerStatement);
      const carried = i + eventsPerStatement >= unwritten.length ? notice : undefined;
      const last = await insertEvents(trx, batch.map(({ changes, event }) => changes.#row(event)), carried);
      batch.forEach(({ changes, event: { run, kind, ...fields } }, j) => changes.events.push(changes.#published(last - batch.length + 1 + j, run, kind, fields)));
    }
    return notice !== undefined;
  }

  #take(): { changes: Changes; event: Unwritten }[] {
    const taken = this.#unwritten.map((event) => ({ changes: this, event }));
    this.#unwritten = [];
    return taken;
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

  /**
   * One of the tasks the operations queued in the pool was handed to a waiting worker in
   * their transaction: it never waited, so nothing wakes or starts a worker for it.
   */
  static handedOut(operations: readonly Changes[], pool: string): void {
    const queued = operations.find((changes) => (changes.queued.get(pool) ?? 0) > 0)?.queued;
    const count = queued?.get(pool) ?? 0;
    if (count > 1) queued!.set(pool, count - 1);
    else queued?.delete(pool);
  }

  delay(pool: string, at: number): void {
    this.delayed.set(pool, Math.min(at, this.delayed.get(pool) ?? Infinity));
  }

  /** Whether other coordinators on the store have anything to hear of this operation. */
  get #noticed(): boolean {
    return this.events.length > 0 || this.#unwritten.length > 0 || this.queued.size > 0 || this.delayed.size > 0 || this.drained.size > 0 || this.cancelledAttempts.size > 0;
  }

  /**
   * What other coordinators on the store are told of a transaction: what its operations
   * changed, as one (their events written or not); undefined when there is nothing to tell.
   */
  static notice(origin: string, operations: Changes[]): CommitNotice | undefined {
    const all = operations.filter((changes) => changes.#noticed);
    if (all.length === 0) return undefined;
    const merged = Changes.merged(all);
    return {
      origin,
      runs: [...new Set(all.flatMap((changes) => [...changes.events, ...changes.#unwritten].map((event) => event.run)))],
      queued: [...merged.queued],
      delayed: [...merged.delayed],
      drained: [...merged.drained],
      cancelled: [...merged.cancelledAttempts],
    };
  }

  /** What operations changed beyond their events, as one: queued counts summed per pool, the earliest delay, the union of the rest. */
  static merged(operations: readonly Changes[]): Changes {
    const merged = new Changes(0);
    for (const changes of operations) {
      for (const [pool, count] of changes.queued) merged.queue(pool, count);
      for (const [pool, at] of changes.delayed) merged.delay(pool, at);
      for (const worker of changes.drained) merged.drained.add(worker);
      for (const attempt of changes.cancelledAttempts) merged.cancelledAttempts.add(attempt);
    }
    return merged;
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
