import type { Clock } from '../engine/clock.ts';

/**
 * Long-polling claims wait here for work in their pool. A wake for n new tasks wakes at
 * most n waiters, so one queued task does not send every idle worker to the store.
 *
 * Every wake bumps the pool's version. A claimer notes the version before it looks at the
 * queue and waits only if no wake came since, so a wake that lands between its look and
 * its wait is not lost.
 */
export class PoolSignals {
  readonly #clock: Clock;
  readonly #waiters = new Map<string, Set<() => void>>();
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

  wait(pool: string, ms: number, seenVersion: number, signal?: AbortSignal): Promise<void> {
    if (this.version(pool) !== seenVersion) return Promise.resolve();
    return new Promise((resolve) => {
      const waiters = this.#waiters.get(pool) ?? new Set();
      this.#waiters.set(pool, waiters);
      const done = (): void => {
        cancel();
        signal?.removeEventListener('abort', done);
        waiters.delete(done);
        if (waiters.size === 0 && this.#waiters.get(pool) === waiters) this.#waiters.delete(pool);
        resolve();
      };
      const cancel = this.#clock.after(ms, done);
      signal?.addEventListener('abort', done, { once: true });
      waiters.add(done);
    });
  }

  wake(pool: string, count = Infinity): void {
    this.#versions.set(pool, this.version(pool) + 1);
    const waiters = this.#waiters.get(pool);
    if (!waiters) return;
    for (const done of [...waiters].slice(0, count)) done();
  }
}

/** The pool of a run's activity: what its tasks wait in, and its workers claim from. */
export function poolOf(spec: { id: string; pools: Record<string, string> }, activity: string): string {
  return spec.pools[activity] ?? `${spec.id}/${activity}`;
}
