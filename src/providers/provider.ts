import type { Preparation } from '../coordinator/preparation.ts';
import type { ServerTrust } from '../api/worker-url.ts';
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
  /** How the machine checks the coordinator's certificate, when `serverUrl` is https. */
  serverTrust?: ServerTrust;
  /** The machine may talk to a coordinator elsewhere over plain HTTP ([server] plain_http_workers). */
  allowPlainHttp?: boolean;
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

/** What a machine costs while it runs. */
export interface Price {
  /** USD per hour. */
  hourlyUsd: number;
  billing: BillingMode;
}

/** The price a machine's handle states, if it has one. */
export function priceOf(machine: MachineHandle): Price | undefined {
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

/** What a provider says of a machine: `unknown` when it cannot tell now, which is never taken as gone. */
export type MachineState = 'running' | 'gone' | 'unknown';

/**
 * What a provider implements: start and stop, and whatever else it can do. The coordinator
 * never uses one as it is: providerLifecycle() makes it a complete ProviderLifecycle.
 */
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
  status?(machine: MachineHandle): Promise<MachineState>;
  /** Every machine of this provider's that exists for `owner`'s store, so ones the store does not know can be stopped. */
  inventory?(owner: string): Promise<FoundMachine[]>;
  /** Shows the worker's current name on the machine (the EC2 Name tag). */
  rename?(machine: MachineHandle, name: string): Promise<void>;
  /** What a machine started with these settings would cost per hour (USD), if anything: known before the start, for spend caps. */
  hourlyUsd?(instance?: Record<string, unknown>): number | undefined;
}

/**
 * A provider's whole lifecycle, every part present, as the coordinator uses it (the model:
 * Taskcluster worker-manager's providers behind one interface). Made by providerLifecycle().
 */
export interface ProviderLifecycle {
  readonly name: string;
  readonly onThisMachine: boolean;
  /** Whether rename() shows anything: names change with every task, and a push reads the store. */
  readonly showsNames: boolean;
  unreachableFrom(serverUrl: string): string | undefined;
  start(request: StartRequest): Promise<MachineHandle>;
  stop(machine: MachineHandle, options?: StopOptions): Promise<void>;
  onExit(listener: (workerId: string, description: string, clean: boolean) => void): void;
  status(machine: MachineHandle): Promise<MachineState>;
  inventory(owner: string): Promise<FoundMachine[]>;
  rename(machine: MachineHandle, name: string): Promise<void>;
  hourlyUsd(instance?: Record<string, unknown>): number | undefined;
}

const lifecycles = new WeakSet<ProviderLifecycle>();

/**
 * `provider` with a default for every part it leaves out, the one place they are chosen:
 * its machines are elsewhere (not on this machine) and reachable from anywhere; no exits
 * are reported (a machine that ends is found by its silence); its status is `unknown`, so a
 * machine is never taken as gone on the provider's word; its inventory is empty, so nothing
 * is reconciled; names are not shown; and its machines have no price. A lifecycle given again is returned as it is.
 */
export function providerLifecycle(provider: Provider): ProviderLifecycle {
  if (lifecycles.has(provider as ProviderLifecycle)) return provider as ProviderLifecycle;
  const lifecycle: ProviderLifecycle = {
    get name() { return provider.name; },
    // Read each time: a test's provider may change it after the coordinator has it.
    get onThisMachine() { return provider.onThisMachine ?? false; },
    showsNames: provider.rename !== undefined,
    unreachableFrom: (serverUrl) => provider.unreachableFrom?.(serverUrl),
    start: (request) => provider.start(request),
    stop: (machine, options) => provider.stop(machine, options),
    onExit: (listener) => provider.onExit?.(listener),
    status: async (machine) => (provider.status ? provider.status(machine) : 'unknown'),
    inventory: async (owner) => (provider.inventory ? provider.inventory(owner) : []),
    rename: async (machine, name) => { await provider.rename?.(machine, name); },
    hourlyUsd: (instance) => provider.hourlyUsd?.(instance),
  };
  lifecycles.add(lifecycle);
  return lifecycle;
}
