/** How a cloud bills a machine's running time. */
export type BillingMode = 'per-second' | 'per-hour';

/**
 * Seconds billed for a machine that ran `seconds`: per second with a minimum (EC2 Linux:
 * one minute), or every started hour in full (EC2 Windows).
 */
export function billedSeconds(seconds: number, mode: BillingMode, minimumSeconds = 60): number {
  const ran = Math.max(0, seconds);
  return mode === 'per-second' ? Math.max(minimumSeconds, Math.ceil(ran)) : Math.max(1, Math.ceil(ran / 3600)) * 3600;
}

export interface MachineRun {
  /** USD per hour. */
  hourlyPrice: number;
  billing: BillingMode;
  startedAtMs: number;
  stoppedAtMs: number;
}

/** What a machine cost in USD, as its running time is billed. */
export function machineCost(run: MachineRun): number {
  return (billedSeconds((run.stoppedAtMs - run.startedAtMs) / 1000, run.billing) / 3600) * run.hourlyPrice;
}

/** A machine started for a run, as the run pays for it. */
export interface MachineShare {
  /** What the machine cost, as billed. */
  billedUsd: number;
  /** What its attempts' time was worth, for whichever run. */
  busyUsd: number;
}

/**
 * What a run spent, when workers are shared by runs: the time its attempts took on each
 * machine, at that machine's price, and whatever the machines started for it cost beyond
 * the attempts they ran (booting, idle, stopping, a billed minimum). Every machine's bill is
 * then paid once, by the runs that used it and the run that called it up.
 */
export function runSpend(attemptsUsd: number, startedFor: readonly MachineShare[]): number {
  return startedFor.reduce((total, machine) => total + Math.max(0, machine.billedUsd - machine.busyUsd), attemptsUsd);
}
