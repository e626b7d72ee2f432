/** Shared by the agent tests: waiting on real processes and killing whatever a test left. */
import { setTimeout as sleep } from 'node:timers/promises';

/** Polls until `check` holds; fails the test after `timeoutMs`. */
export async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(10);
  }
}

/** Every "<name> <pid>" line in `output`, e.g. "escaped 1234" -> { escaped: 1234 }. */
export function namedPids(output: string): Record<string, number> {
  const pids: Record<string, number> = {};
  for (const [, name, pid] of output.matchAll(/^(\w+) (\d+)$/gm)) pids[name!] = Number(pid);
  return pids;
}

/**
 * Pids a test started. killAll() is the safety net for afterEach, so a failing test
 * does not leave `sleep 1000` behind; the code under test should already have killed them.
 */
export class Started {
  readonly #pids = new Set<number>();

  add(...pids: number[]): void {
    for (const pid of pids) this.#pids.add(pid);
  }

  killAll(): void {
    for (const pid of this.#pids) {
      for (const target of [-pid, pid]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch {
          // already gone, or not a group leader
        }
      }
    }
    this.#pids.clear();
  }
}
