import { DEFAULT_PRICES } from '../../config/schema.ts';
import type { BillingMode } from '../../engine/cost.ts';
import type { Ec2Settings } from './settings.ts';
import type { Platform } from './user-data.ts';

/** The configured hourly price of `instanceType` in USD, else the built-in one; undefined when neither knows it. */
export function hourlyPrice(prices: Ec2Settings['prices'], instanceType: string): number | undefined {
  return prices[instanceType] ?? DEFAULT_PRICES[instanceType];
}

/** AWS bills Linux per second and Windows per started hour, unless the config says otherwise. */
export function billingMode(billing: Ec2Settings['billing'], platform: Platform): BillingMode {
  return billing[platform];
}
