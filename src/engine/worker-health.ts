import type { WorkerState } from './fleet-view.ts';

/** A live worker as the health check sees it. */
export interface CheckedWorker {
  state: WorkerState;
  createdAt: number;
  /** Whether its machine's start is recorded. */
  hasMachine: boolean;
  /** The coordinator process that started (or is starting) its machine; null for one started by hand. */
  owner: string | null;
  tasksDone: number;
}

/** What the judging coordinator knows besides the worker. */
export interface HealthFacts {
  now: number;
  /** The judging coordinator's id on the store. */
  self: string;
  /** When the judging coordinator started: nothing said before was heard. */
  startedAt: number;
  /** Coordinators on the store taken to be alive. */
  alive: ReadonlySet<string>;
  /** Whether this coordinator's own start of the machine is in flight, or waiting to be retried. */
  startingHere: boolean;
  /** Whether its machine may register: it was given a URL a live coordinator serves, or none is known. */
  mayRegister: boolean;
  startTimeoutMs: number;
  /** The provider says the machine no longer exists. */
  machineGone: boolean;
  /** Its activity's max_lifetime, if any. */
  lifetimeMs: number | undefined;
  /** Its pool keeps workers warm (min_idle > 0). */
  keepsWarm: boolean;
}

export type HealthVerdict = { kind: 'fine' } | { kind: 'not-mine' } | { kind: 'lose'; reason: string } | { kind: 'drain'; reason: string };

/**
 * What the health check does with a live worker: a start that can no longer end (its
 * starter is gone) or took too long is given up on, a worker whose machine is gone is lost,
 * and one past its lifetime is drained. A start in flight in another live coordinator
 * process is that one's to judge.
 */
export function judgeWorker(worker: CheckedWorker, facts: HealthFacts): HealthVerdict {
  if (worker.state === 'starting' && !facts.startingHere) {
    const starter = worker.owner;
    if (starter !== null && starter !== facts.self && facts.alive.has(starter)) return { kind: 'not-mine' };
    // A start a coordinator process that is gone was making, or waiting to retry, died with
    // it: nothing will record its machine. Its agent, if one came up, is refused and exits.
    const cutShort = starter === null ? worker.createdAt < facts.startedAt : starter !== facts.self;
    if (!worker.hasMachine && cutShort) return { kind: 'lose', reason: 'its start was cut short: the coordinator starting it is gone' };
    // A machine told to reach its starter alone (on its loopback, say) can register nowhere now.
    if (cutShort && !facts.mayRegister) return { kind: 'lose', reason: 'its start was cut short: its machine can reach only the coordinator that started it, which is gone' };
    const since = Math.max(worker.createdAt, facts.startedAt);
    if (facts.now - since > facts.startTimeoutMs) {
      return { kind: 'lose', reason: `did not register within ${Math.round(facts.startTimeoutMs / 1000)}s` };
    }
  }
  if (facts.machineGone) return { kind: 'lose', reason: 'its machine is gone' };
  // Every worker gets at least one task: one that came up slower than its lifetime (a
  // loaded machine, a long boot) would otherwise be drained unused, again and again.
  // A warm worker (its pool keeps min_idle) is drained unused too: min_idle replaces it.
  const usedOnce = worker.state === 'busy' || (worker.state === 'idle' && (worker.tasksDone > 0 || facts.keepsWarm));
  if (facts.lifetimeMs !== undefined && usedOnce && facts.now - worker.createdAt > facts.lifetimeMs) {
    return { kind: 'drain', reason: `older than its activity's max_lifetime (${Math.round(facts.lifetimeMs / 1000)}s)` };
  }
  return { kind: 'fine' };
}
