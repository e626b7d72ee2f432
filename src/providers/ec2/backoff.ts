import { setTimeout as timersSleep } from 'node:timers/promises';
import { isTransient } from './aws-errors.ts';

export interface BackoffOptions {
  /** Tries in all, the first included. */
  attempts: number;
  baseMs: number;
  maxMs: number;
  /** Injected so tests need not wait. */
  sleep: (ms: number) => Promise<unknown>;
  /** 0 ≤ random() < 1; injected so tests can pin the jitter. */
  random: () => number;
}

export const defaultBackoff: BackoffOptions = {
  attempts: 6,
  baseMs: 500,
  maxMs: 20_000,
  sleep: (ms) => timersSleep(ms),
  random: Math.random,
};

/**
 * Delay before try `retry` (1-based): exponential, capped, with "equal jitter" (half fixed,
 * half random) so it always grows with retries yet callers throttled together spread out.
 */
export function backoffDelayMs(retry: number, options: Pick<BackoffOptions, 'baseMs' | 'maxMs' | 'random'>): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** (retry - 1));
  return Math.round(ceiling / 2 + (ceiling / 2) * options.random());
}

/**
 * `call`, tried again after throttling (RequestLimitExceeded) or a server-side failure.
 * The SDK's own retries are off (see clients.ts), so this is the one retry policy.
 */
export async function withBackoff<T>(call: () => Promise<T>, options: BackoffOptions = defaultBackoff): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isTransient(error) || attempt >= options.attempts) throw error;
      await options.sleep(backoffDelayMs(attempt, options));
    }
  }
}
