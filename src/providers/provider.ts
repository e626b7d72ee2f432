import type { Preparation } from '../coordinator/preparation.ts';
import type { BillingMode } from '../engine/cost.ts';

/**
 * Where machines come from. Every provider has the same lifecycle: start a machine that
 * runs one agent, stop it. The coordinator records its intent before each call.
 */
export interface StartRequest {
  /** The store's id: machines are marked with it, so only coordinators of this store reconcile them. */
  owner: string;
  workerId: string;
  runId: string;
  activity: string;
  /** The coordinator's URL as the machine will reach it. */
  serverUrl: string;
  /** One-time secret the agent trades for its own credential. */
  registrationToken: string;
  /** Where the agent may write its own diagnostics, if the provider keeps them locally. */
  agentLogPath: string;
  /** The activity's provider-specific machine settings (`instance:` in the pipeline), untouched. */
  instance?: Record<string, unknown>;
  /** The activity's prepare script: a provider that bakes images uses one made with it. */
  prepare?: Preparation;
}

/**
 * Whatever the provider needs to find the machine again: kept as JSON in the store. A
 * machine that costs money also says so: `hourly_usd` and `billing` (a BillingMode).
 */
export type MachineHandle = Record<string, string | number>;

/** The price a machine's handle states, if it has one. */
export function priceOf(machine: MachineHandle): { hourlyUsd: number; billing: BillingMode } | undefined {
  const hourlyUsd = machine.hourly_usd;
  const billing = machine.billing;
  if (typeof hourlyUsd !== 'number' || (billing !== 'per-second' && billing !== 'per-hour')) return undefined;
  return { hourlyUsd, billing };
}

export interface StopOptions {
  /** Its agent acknowledged the drain and is exiting by itself: give it a moment first. */
  drained?: boolean;
}

/** A machine that exists now, and the worker it was started for. */
export interface FoundMachine {
  workerId: string;
  machine: MachineHandle;
}

export interface Provider {
  readonly name: string;
  /** Its machines run on the coordinator's own host, so they reach it over loopback. */
  readonly onThisMachine?: boolean;
  /** Why its machines could not reach the coordinator at `serverUrl`, if they could not. */
  unreachableFrom?(serverUrl: string): string | undefined;
  start(request: StartRequest): Promise<MachineHandle>;
  /** Ends the machine and everything on it. Safe to call on one that is already gone. */
  stop(machine: MachineHandle, options?: StopOptions): Promise<void>;
  /** Machines whose agent ended on its own, reported as they go; `clean` when it exited with 0. */
  onExit?(listener: (workerId: string, description: string, clean: boolean) => void): void;
  /** Whether the machine still runs; `unknown` when the provider cannot tell now. */
  status?(machine: MachineHandle): Promise<'running' | 'gone' | 'unknown'>;
  /** Every machine of this provider's that exists for `owner`'s store, so ones the store does not know can be stopped. */
  inventory?(owner: string): Promise<FoundMachine[]>;
  /** Shows the worker's current name on the machine (the EC2 Name tag). */
  rename?(machine: MachineHandle, name: string): Promise<void>;
}
