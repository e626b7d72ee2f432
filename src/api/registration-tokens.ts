import type { Clock } from '../engine/clock.ts';
import type { Db } from '../store/store.ts';
import { workerByRegistrationHash } from '../store/worker-rows.ts';
import { hashSecret } from '../util/ids.ts';

export interface RegistrationPolicy {
  /** A started worker that has not registered by then is given up on: its token dies with it. */
  startTimeoutMs: number;
  clock: Clock;
}

/**
 * Registration tokens live only as long as the health check waits for their worker, so
 * a token copied off a host is of no use once that worker could no longer register.
 * Time is counted from this process's start at the earliest, as the health check does,
 * so a restarted coordinator gives starting workers their full time.
 */
export class RegistrationTokens {
  readonly #db: Db;
  readonly #policy: RegistrationPolicy;
  readonly #since: number;

  constructor(db: Db, policy: RegistrationPolicy) {
    this.#db = db;
    this.#policy = policy;
    this.#since = policy.clock.now();
  }

  /**
   * `valid` for a starting worker's unexpired token; `spent` when that worker is no longer
   * starting; `unknown` for anything else, a token used to register included (it is erased).
   */
  async check(token: string): Promise<'valid' | 'expired' | 'spent' | 'unknown'> {
    const worker = await workerByRegistrationHash(this.#db, hashSecret(token));
    if (!worker) return 'unknown';
    if (worker.state !== 'starting') return 'spent';
    const age = this.#policy.clock.now() - Math.max(worker.created_at, this.#since);
    return age > this.#policy.startTimeoutMs ? 'expired' : 'valid';
  }
}
