/**
 * Where machines come from. Every provider has the same lifecycle: start a machine that
 * runs one agent, stop it. The coordinator records its intent before each call.
 */
export interface StartRequest {
  workerId: string;
  runId: string;
  activity: string;
  /** The coordinator's URL as the machine will reach it. */
  serverUrl: string;
  /** One-time secret the agent trades for its own credential. */
  registrationToken: string;
  /** Where the agent may write its own diagnostics, if the provider keeps them locally. */
  agentLogPath: string;
}

/** Whatever the provider needs to find the machine again: kept as JSON in the store. */
export type MachineHandle = Record<string, string | number>;

export interface Provider {
  readonly name: string;
  start(request: StartRequest): Promise<MachineHandle>;
  /** Ends the machine. Safe to call on one that is already gone. */
  stop(machine: MachineHandle): Promise<void>;
  /** Machines whose agent ended on its own, reported as they go; `clean` when it exited with 0. */
  onExit?(listener: (workerId: string, description: string, clean: boolean) => void): void;
}
