import { DEFAULT_PRICES } from '../../config/schema.ts';
import type { Ec2Settings } from './settings.ts';
import type { Platform } from './user-data.ts';

export type BillingMode = 'per-second' | 'per-hour';

/**
 * Seconds AWS bills for a machine that ran `seconds`: per second with a one-minute minimum
 * (Linux), or every started hour in full (Windows).
 */
export function billedSeconds(seconds: number, mode: BillingMode): number {
  const ran = Math.max(0, seconds);
  return mode === 'per-second' ? Math.max(60, Math.ceil(ran)) : Math.max(1, Math.ceil(ran / 3600)) * 3600;
}

export interface MachineRun {
  /** USD per hour. */
  hourlyPrice: number;
  billing: BillingMode;
  startedAtMs: number;
  stoppedAtMs: number;
}

/** What a machine cost in USD, as AWS would bill its running time. */
export function machineCost(run: MachineRun): number {
  return (billedSeconds((run.stoppedAtMs - run.startedAtMs) / 1000, run.billing) / 3600) * run.hourlyPrice;
}

/** The configured hourly price of `instanceType`, else the built-in one; undefined when neither knows it. */
export function hourlyPrice(prices: Ec2Settings['prices'], instanceType: string): number | undefined {
  return prices[instanceType] ?? DEFAULT_PRICES[instanceType];
}

export function billingMode(billing: Ec2Settings['billing'], platform: Platform): BillingMode {
  return billing[platform];
}
