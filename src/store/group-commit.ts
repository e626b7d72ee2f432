import { sql } from 'kysely';
import type { Db } from './store.ts';
import type { WriteMode } from './postgres-dialect.ts';
import { StoreUnavailable } from './store-errors.ts';

interface Pending<Done> {
  /** The operation alone, or its part of a gathered one (see gather). */
  work: ((trx: Db) => Promise<Done>) | { gatherer: Gatherer<any, Done>; input: unknown };
  mode: WriteMode;
  resolve: (value: Done) => void;
  reject: (error: unknown) => void;
}

type Outcome<Done> = { ok: true; value: Done } | { ok: false; error: unknown };

/** A committed transaction of a batch: how each operation did, and what its batch end returned. */
interface Written<Done> { outcomes: Outcome<Done>[]; after?: AfterCommit }

/**
 * Work a batch does last, in its transaction, once for all its operations that succeeded
 * (their results, in order): just before the commit that keeps what they did, and only then.
 * What it returns is told whether that transaction committed, once it is known.
 */
export type BatchEnd<Done> = (trx: Db, done: Done[]) => Promise<AfterCommit | void>;

/**
 * Told whether the transaction a batch end ran in committed (true, once its operations are
 * answered and before their callers go on) or was undone (false). It must not throw.
 */
export type AfterCommit = (committed: boolean) => void;

/**
 * Operations of one kind that run as one in a batch (see gather): given their inputs in
 * the order they arrived, it answers their results in that order.
 */
export type Gatherer<I, Done> = (trx: Db, inputs: I[]) => Promise<Done[]>;

/**
 * Group commit: while one transaction is being written, the operations that arrive wait
 * and then share the next one. They run one after the other; should one fail, it undoes
 * the batch with it, and they are all run again, each in its own savepoint, so the failing
 * one is undone alone. A savepoint costs two statements, each a round trip on PostgreSQL,
 * and operations rarely fail: they are not paid for ahead. An idle coordinator waits one
 * turn of the event loop; a busy one pays one commit for many operations.
 */
export class GroupCommit<Done = unknown> {
  readonly #transaction: <T>(work: (trx: Db) => Promise<T>, mode: WriteMode) => Promise<T>;
  readonly #batchEnd: BatchEnd<Done> | undefined;
  #queue: Pending<Done>[] = [];
  #writing = false;

  /**
   * `batchEnd`: what the batch writes for all its operations at once (their events, in one
   * statement), in its transaction, after the last of them.
   */
  constructor(transaction: <T>(work: (trx: Db) => Promise<T>, mode: WriteMode) => Promise<T>, batchEnd?: BatchEnd<Done>) {
    this.#transaction = transaction;
    this.#batchEnd = batchEnd;
  }

  get pending(): boolean {
    return this.#writing || this.#queue.length > 0;
  }

  /**
   * `work` in a transaction, `shared` only when every operation of its batch may be (see
   * WriteMode). `work` runs again, as new, when another operation of its batch failed.
   */
  run<T extends Done>(work: (trx: Db) => Promise<T>, mode: WriteMode = 'exclusive'): Promise<T> {
    return this.#enqueue(work, mode);
  }

  /**
   * `input` for `gatherer`, which runs once for the inputs of a batch's operations that
   * arrived one after the other: set-based statements for all of them, instead of each
   * operation's own. Alone in its savepoint when another operation of its batch failed.
   */
  gather<I, T extends Done>(gatherer: Gatherer<I, T>, input: I, mode: WriteMode = 'exclusive'): Promise<T> {
    return this.#enqueue({ gatherer, input }, mode);
  }

  #enqueue<T extends Done>(work: Pending<Done>['work'], mode: WriteMode): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, mode, resolve: resolve as (value: Done) => void, reject });
      if (this.#writing) return;
      this.#writing = true;
      // A synchronous store finishes a transaction within one turn of the event loop, so
      // waiting for the turn's end is what lets requests read in the same turn share it.
      setImmediate(() => void this.#drain());
    });
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue;
        this.#queue = [];
        await this.#write(batch);
      }
    } finally {
      this.#writing = false;
    }
  }

  async #write(batch: Pending<Done>[]): Promise<void> {
    const mode = batch.every((pending) => pending.mode === 'shared') ? 'shared' : 'exclusive';
    let written: Written<Done>;
    try {
      try {
        written = await this.#attempt(mode, (trx) => this.#together(trx, batch));
      } catch (error) {
        // Alone, the operation failed by itself; with the store at fault, all of them would fail again.
        if (batch.length === 1 || error instanceof StoreUnavailable) throw error;
        written = await this.#attempt(mode, (trx) => this.#apart(trx, batch));
      }
    } catch (error) {
      // Nothing of the batch was committed: every operation fails with the cause.
      for (const pending of batch) pending.reject(error);
      return;
    }
    batch.forEach((pending, i) => {
      const outcome = written.outcomes[i]!;
      if (outcome.ok) pending.resolve(outcome.value);
      else pending.reject(outcome.error);
    });
    // Before the operations' callers go on: they continue once this turn's work is done.
    written.after?.(true);
  }

  /**
   * One transaction of the batch, its batch end last. Should it fail, what that end returned
   * hears it at once; once it committed, the caller tells it.
   */
  async #attempt(mode: WriteMode, operations: (trx: Db) => Promise<Outcome<Done>[]>): Promise<Written<Done>> {
    const ended: { after?: AfterCommit } = {};
    try {
      return await this.#transaction(async (trx) => {
        const outcomes = await operations(trx);
        ended.after = (await this.#batchEnd?.(trx, outcomes.flatMap((outcome) => (outcome.ok ? [outcome.value] : [])))) ?? undefined;
        return { outcomes, after: ended.after };
      }, mode);
    } catch (error) {
      ended.after?.(false);
      throw error;
    }
  }

  async #together(trx: Db, batch: Pending<Done>[]): Promise<Outcome<Done>[]> {
    const outcomes: Outcome<Done>[] = [];
    for (let i = 0; i < batch.length;) {
      const { work } = batch[i]!;
      if (typeof work === 'function') {
        outcomes.push({ ok: true, value: await work(trx) });
        i++;
        continue;
      }
      let end = i + 1;
      while (end < batch.length && sameGatherer(batch[end]!.work, work.gatherer)) end++;
      const inputs = batch.slice(i, end).map((pending) => (pending.work as { input: unknown }).input);
      for (const value of await work.gatherer(trx, inputs)) outcomes.push({ ok: true, value });
      i = end;
    }
    return outcomes;
  }

  async #apart(trx: Db, batch: Pending<Done>[]): Promise<Outcome<Done>[]> {
    const outcomes: Outcome<Done>[] = [];
    for (const pending of batch) {
      await sql`savepoint slipway_op`.execute(trx);
      try {
        outcomes.push({ ok: true, value: await alone(trx, pending.work) });
        await sql`release savepoint slipway_op`.execute(trx);
      } catch (error) {
        // The store is at fault, not this operation: the rest of the batch would fail the
        // same way, so all of it is undone and every operation hears why.
        if (error instanceof StoreUnavailable) throw error;
        await sql`rollback to savepoint slipway_op`.execute(trx);
        await sql`release savepoint slipway_op`.execute(trx);
        outcomes.push({ ok: false, error });
      }
    }
    return outcomes;
  }
}

function sameGatherer(work: Pending<unknown>['work'], gatherer: Gatherer<any, unknown>): boolean {
  return typeof work !== 'function' && work.gatherer === gatherer;
}

async function alone<Done>(trx: Db, work: Pending<Done>['work']): Promise<Done> {
  if (typeof work === 'function') return work(trx);
  return (await work.gatherer(trx, [work.input]))[0]!;
}
