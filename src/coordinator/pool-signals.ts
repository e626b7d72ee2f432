import type { Clock } from '../engine/clock.ts';

/** A claim waiting in a pool, for its worker: ended with what it is handed, or with nothing. */
export interface Waiter<Handed> {
  worker: string;
  done: (handed?: Handed) => void;
}

/**
 * Long-polling claims wait here for work in their pool. A wake for n new tasks wakes at
 * most n waiters, so one queued task does not send every idle worker to the store; a
 * transaction that queues tasks may instead take waiters and hand them what it claimed for
 * them (see WorkerSessions).
 *
 * Every wake bumps the pool's version. A claimer notes the version before it looks at the
 * queue and waits only if no wake came since, so a wake that lands between its look and
 * its wait is not lost.
 */
export class PoolSignals<Handed> {
  readonly #clock: Clock;
  readonly #waiters = new Map<string, Set<Waiter<Handed>>>();
  readonly #versions = new Map<string, number>();

  /** Waits end after `ms` of this clock's time. */
  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Claims waiting now, in every pool. */
  get waiting(): number {
    let count = 0;
    for (const waiters of this.#waiters.values()) count += waiters.size;
    return count;
  }

  version(pool: string): number {
    return this.#versions.get(pool) ?? 0;
  }

  /** Ends when woken (with nothing), when handed something, or after `ms`. */
  wait(pool: string, ms: number, seenVersion: number, worker: string, signal?: AbortSignal): Promise<Handed | undefined> {
    if (this.version(pool) !== seenVersion) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const waiters = this.#waiters.get(pool) ?? new Set();
      this.#waiters.set(pool, waiters);
      const ended = (): void => waiter.done();
      const waiter: Waiter<Handed> = {
        worker,
        done: (handed) => {
          cancel();
          signal?.removeEventListener('abort', ended);
          this.#leave(pool, waiters, waiter);
          resolve(handed);
        },
      };
      const cancel = this.#clock.after(ms, ended);
      signal?.addEventListener('abort', ended, { once: true });
      waiters.add(waiter);
    });
  }

  wake(pool: string, count = Infinity): void {
    this.#versions.set(pool, this.version(pool) + 1);
    const waiters = this.#waiters.get(pool);
    if (!waiters) return;
    for (const waiter of [...waiters].slice(0, count)) waiter.done();
  }

  /**
   * Up to `count` of the pool's waiters, no longer woken by anything: each must be ended
   * with `done`. Its time and its abort still end it meanwhile.
   */
  take(pool: string, count: number): Waiter<Handed>[] {
    const waiters = this.#waiters.get(pool);
    if (!waiters) return [];
    const taken = [...waiters].slice(0, count);
    for (const waiter of taken) this.#leave(pool, waiters, waiter);
    return taken;
  }

  #leave(pool: string, waiters: Set<Waiter<Handed>>, waiter: Waiter<Handed>): void {
    waiters.delete(waiter);
    if (waiters.size === 0 && this.#waiters.get(pool) === waiters) this.#waiters.delete(pool);
  }
}

/** The pool of a run's activity: what its tasks wait in, and its workers claim from. */
export function poolOf(spec: { id: string; pools: Record<string, string> }, activity: string): string {
  return spec.pools[activity] ?? `${spec.id}/${activity}`;
}
