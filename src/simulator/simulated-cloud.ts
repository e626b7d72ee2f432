import { billedSeconds, type BillingMode } from '../engine/cost.ts';
import type { MachineHandle, MachineState, Provider, StartRequest } from '../providers/provider.ts';
import { runSimulatedAgent, type AgentWorld } from './simulated-agent.ts';

/** How the simulated cloud behaves and bills (the defaults are Taskcluster's simulator's model). */
export interface CloudModel {
  /** From the start request to the agent registering. */
  bootMs: number;
  /** From a stop (or the agent's exit) to the machine terminated: still billed. */
  stopDelayMs: number;
  billing: BillingMode;
  /** The least a per-second machine is billed. */
  minChargeMs: number;
  hourlyUsd: number;
  /** The share of start requests the cloud refuses (0 to 1), drawn from a seeded generator. */
  failureRate: number;
  seed: number;
}

export const taskclusterCloud: CloudModel = {
  bootMs: 20_000, stopDelayMs: 200_000, billing: 'per-second', minChargeMs: 60_000, hourlyUsd: 0.1, failureRate: 0, seed: 1,
};

/** One machine's life, as billed: from its request to its termination. */
export interface SimulatedMachine {
  workerId: string;
  requestedAt: number;
  /** When the machine was told to stop, or its agent exited. */
  stoppedAt?: number;
  terminatedAt?: number;
}

/**
 * A cloud of simulated machines behind the provider interface, as EC2 is (the name is
 * `ec2`, so pools and caps name it as they would the real one). A start boots a machine
 * whose agent registers after `bootMs`; an agent that exits, or a stop, terminates the
 * machine `stopDelayMs` later. It keeps every machine's times, which the bill is made of.
 */
export class SimulatedCloud implements Provider {
  readonly name = 'ec2';
  readonly machines = new Map<string, SimulatedMachine>();
  readonly #model: CloudModel;
  readonly #world: AgentWorld;
  readonly #kills = new Map<string, AbortController>();
  readonly #exitListeners: ((workerId: string, description: string, clean: boolean) => void)[] = [];
  #random: () => number;
  /** Machines requested and not yet terminated. */
  #live = 0;
  #peak = 0;

  constructor(model: CloudModel, world: AgentWorld) {
    this.#model = model;
    this.#world = world;
    this.#random = seededRandom(model.seed);
  }

  /** Machines billed now: requested and not yet terminated. */
  get live(): number {
    return this.#live;
  }

  get peak(): number {
    return this.#peak;
  }

  hourlyUsd(): number {
    return this.#model.hourlyUsd;
  }

  async start(request: StartRequest): Promise<MachineHandle> {
    if (this.#model.failureRate > 0 && this.#random() < this.#model.failureRate) throw new Error('InsufficientInstanceCapacity (simulated)');
    const { clock } = this.#world;
    const machine: SimulatedMachine = { workerId: request.workerId, requestedAt: clock.now() };
    this.machines.set(request.workerId, machine);
    this.#live += 1;
    this.#peak = Math.max(this.#peak, this.#live);
    const killed = new AbortController();
    this.#kills.set(request.workerId, killed);
    clock.after(this.#model.bootMs, () => {
      if (killed.signal.aborted) return;
      void runSimulatedAgent(this.#world, request.registrationToken, killed.signal).then((stop) => {
        if (killed.signal.aborted) return;
        this.#terminate(machine);
        for (const listener of this.#exitListeners) listener(request.workerId, `agent exited: ${stop?.reason ?? 'not registered'}`, true);
      });
    });
    return { worker: request.workerId, hourly_usd: this.#model.hourlyUsd, billing: this.#model.billing };
  }

  async stop(handle: MachineHandle): Promise<void> {
    const machine = this.machines.get(String(handle.worker));
    if (machine) this.#terminate(machine);
  }

  async status(handle: MachineHandle): Promise<MachineState> {
    const machine = this.machines.get(String(handle.worker));
    return machine && machine.stoppedAt === undefined ? 'running' : 'gone';
  }

  onExit(listener: (workerId: string, description: string, clean: boolean) => void): void {
    this.#exitListeners.push(listener);
  }

  /** Seconds billed for the machine, terminated or not yet (then as if it were terminated now). */
  billedSeconds(machine: SimulatedMachine, now: number): number {
    const ran = ((machine.terminatedAt ?? now) - machine.requestedAt) / 1000;
    return billedSeconds(ran, this.#model.billing, this.#model.minChargeMs / 1000);
  }

  #terminate(machine: SimulatedMachine): void {
    if (machine.stoppedAt !== undefined) return;
    const { clock } = this.#world;
    machine.stoppedAt = clock.now();
    machine.terminatedAt = clock.now() + this.#model.stopDelayMs;
    this.#kills.get(machine.workerId)?.abort();
    this.#kills.delete(machine.workerId);
    clock.after(this.#model.stopDelayMs, () => { this.#live -= 1; });
  }
}

/** A small, seeded generator (mulberry32): the same seed draws the same failures. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
