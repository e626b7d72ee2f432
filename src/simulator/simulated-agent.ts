import type { Coordinator } from '../coordinator/coordinator.ts';
import type { WorkerIdentity } from '../coordinator/worker-identity.ts';
import { idleStep } from '../engine/idle-claim.ts';
import type { WorkerStop } from '../engine/worker-stop.ts';
import type { AttemptOrder } from '../protocol/worker.ts';
import type { SimulatedClock } from './simulated-clock.ts';

/** What a simulated agent talks to, and how long each task of the trace holds it. */
export interface AgentWorld {
  clock: SimulatedClock;
  coordinator: Coordinator;
  /** How long the attempt's task runs, from the trace. */
  durationOf(attempt: AttemptOrder): number;
  /** Counts the coordinator calls in flight, so the simulation knows when all is quiet. */
  call<T>(work: () => Promise<T>): Promise<T>;
}

const succeeded = { outcome: 'succeeded' as const, exitCode: 0, error: null };

/**
 * An agent on a simulated machine: it does what src/agent/agent.ts does, through the
 * coordinator's own methods instead of HTTP. It registers, claims (long polls the
 * coordinator holds in simulated time), holds each task for its duration with heartbeats,
 * finishes it claiming the next, and stops when idle too long (idleStep, the agent's rule)
 * or told. Resolves with why it stopped; undefined when its machine was stopped under it
 * (`killed`) or it never registered.
 */
export async function runSimulatedAgent(world: AgentWorld, registrationToken: string, killed: AbortSignal): Promise<WorkerStop | undefined> {
  const { clock, coordinator } = world;
  const registered = await world.call(() => coordinator.register(registrationToken));
  if (registered.kind !== 'registered' || killed.aborted) return undefined;
  const { settings } = registered;
  const worker: WorkerIdentity = { workerId: registered.workerId, runId: registered.runId, activity: registered.activity };
  const stop = await serve(world, worker, settings, killed);
  if (!stop) return undefined;
  await world.call(() => coordinator.stopped(worker, stop));
  return stop;
}

async function serve(world: AgentWorld, worker: WorkerIdentity, settings: Parameters<typeof idleStep>[0], killed: AbortSignal): Promise<WorkerStop | undefined> {
  const { clock, coordinator } = world;
  let idleSince = clock.now();
  let next: AttemptOrder | undefined;
  for (;;) {
    if (killed.aborted) return undefined;
    if (!next) {
      const step = idleStep(settings, clock.now() - idleSince);
      if (step.kind === 'stop') return { cause: 'idle', reason: `idle for ${Math.round(settings.idle_timeout_ms / 1000)}s` };
      const claimed = await world.call(() => coordinator.claim(worker, step.waitMs, killed, step.pastIdle));
      if (killed.aborted) return undefined;
      if (claimed.kind === 'stop') return { cause: step.pastIdle ? 'idle' : 'told', reason: claimed.reason };
      if (claimed.kind === 'none') continue;
      next = claimed.attempt;
    }
    const order = next;
    if (!await hold(world, worker, order, settings.heartbeat_interval_ms, killed)) return undefined;
    const { finished, next: after } = await world.call(() => coordinator.finish(worker, order.id, succeeded, true));
    if (finished.kind === 'recorded' && finished.stop) return { cause: 'told', reason: 'told to stop' };
    next = after?.kind === 'attempt' ? after.attempt : undefined;
    if (after?.kind === 'stop') return { cause: 'told', reason: after.reason };
    idleSince = clock.now();
  }
}

/** Holds the task for its duration, beating every interval; false when the machine went meanwhile. */
async function hold(world: AgentWorld, worker: WorkerIdentity, order: AttemptOrder, intervalMs: number, killed: AbortSignal): Promise<boolean> {
  const end = world.clock.now() + world.durationOf(order);
  while (world.clock.now() < end) {
    await world.clock.sleep(Math.min(intervalMs, end - world.clock.now()));
    if (killed.aborted) return false;
    if (world.clock.now() < end) await world.call(() => world.coordinator.heartbeat(worker, order.id, 0));
  }
  return !killed.aborted;
}
