import type { RetryPolicy } from '../pipeline/types.ts';
import type { AttemptOutcome } from './report.ts';

export type AfterAttempt =
  | { status: 'succeeded' }
  | { status: 'queued'; notBefore: number; delayMs: number }
  | { status: 'failed' };

/** The wait before attempt `next` (2, 3, …): delay, then delay × backoff, … capped. */
export function retryDelayMs(policy: RetryPolicy, next: number): number {
  const raw = policy.delayMs * policy.backoff ** Math.max(0, next - 2);
  return Math.min(raw, policy.maxDelayMs);
}

/**
 * What a task becomes once its `attempt`-th run ended with `outcome`. One the coordinator
 * `refused` before it ran (a secret the store lacks) is not retried: waiting changes nothing.
 */
export function afterAttempt(policy: RetryPolicy, attempt: number, outcome: AttemptOutcome, now: number, refused = false): AfterAttempt {
  if (outcome === 'succeeded') return { status: 'succeeded' };
  if (outcome === 'cancelled' || refused || attempt >= policy.attempts) return { status: 'failed' };
  const delayMs = retryDelayMs(policy, attempt + 1);
  return { status: 'queued', notBefore: now + delayMs, delayMs };
}

/** Provider calls that create or stop machines: 5 retries at 5, 10, 20, 40, 80 seconds. */
export const providerRetry: RetryPolicy = { attempts: 6, delayMs: 5_000, backoff: 2, maxDelayMs: 80_000 };
