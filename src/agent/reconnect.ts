import { setTimeout as sleep } from 'node:timers/promises';

/** Error codes of a coordinator that is down, restarting or unreachable for now. */
const connectionCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET']);
/** Answers that mean "not now": a proxy without its backend, a store that cannot be written. */
const retryStatuses = new Set([502, 503, 504]);

/** The coordinator could not be reached for the whole reconnect window. */
export class CoordinatorUnreachable extends Error {}

function isConnectionError(error: unknown): boolean {
  for (let e = error as { code?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e.code && connectionCodes.has(e.code)) return true;
  }
  return false;
}

export interface ReconnectPolicy {
  /** How long to keep trying before giving up on the coordinator. */
  windowMs: number;
  /** Told once when the coordinator stops answering, and when it is back. */
  say?: (line: string) => void;
  /**
   * Aborts when the agent is asked to stop. From then on a coordinator that does not answer
   * is not waited for: a request makes at most one more attempt, so an agent told to stop
   * while its coordinator is away runs its cleanup and exits instead of retrying for the window.
   */
  stopping?: AbortSignal;
}

/**
 * Sends a request until it gets a real answer: connection errors and "not now" statuses
 * are retried with backoff (0.1 s doubling to 2 s) for the window, so a coordinator that
 * is restarted finds its agents again. Every request after registration is safe to
 * repeat: the coordinator answers a repeated claim or finish with what it answered before.
 * (A registration whose answer was lost is refused when repeated, since its token is
 * single-use; that costs one worker, which is replaced.) `signal` abandons the request
 * itself; the policy's `stopping` only ends the retries.
 */
export async function withReconnect<T extends { status: number }>(
  what: string, policy: ReconnectPolicy, send: () => Promise<T>, signal?: AbortSignal,
): Promise<T> {
  const giveUpAt = Date.now() + policy.windowMs;
  let delayMs = 100;
  let complained = false;
  for (;;) {
    let problem: string;
    try {
      const answer = await send();
      if (!retryStatuses.has(answer.status)) {
        if (complained) policy.say?.(`the coordinator answers again (${what})`);
        return answer;
      }
      problem = `it answered ${answer.status}`;
    } catch (error) {
      if (signal?.aborted || !isConnectionError(error)) throw error;
      problem = (error as Error).message;
    }
    if (policy.stopping?.aborted) {
      throw new CoordinatorUnreachable(`${what}: the coordinator could not be reached, and the agent is stopping (last: ${problem})`);
    }
    if (Date.now() >= giveUpAt) {
      throw new CoordinatorUnreachable(`${what}: the coordinator could not be reached for ${Math.round(policy.windowMs / 1000)}s (last: ${problem})`);
    }
    if (!complained) policy.say?.(`${what}: the coordinator is not reachable (${problem}); retrying for up to ${Math.round(policy.windowMs / 1000)}s`);
    complained = true;
    const wake = [signal, policy.stopping].filter((s) => s !== undefined);
    await sleep(Math.min(delayMs * (0.5 + Math.random() / 2), giveUpAt - Date.now()), undefined, { signal: AbortSignal.any(wake) }).catch(() => undefined);
    if (signal?.aborted) throw signal.reason;
    delayMs = Math.min(delayMs * 2, 2000);
  }
}
