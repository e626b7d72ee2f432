import { describe, expect, it } from 'vitest';
import { billedSeconds, billingMode, hourlyPrice, machineCost } from '../../../src/providers/ec2/cost.ts';
import { ec2Settings } from './aws-fixtures.ts';

const t0 = Date.parse('2026-01-01T00:00:00Z');

describe('cost', () => {
  it('bills Linux per second with a 60 s minimum', () => {
    expect(billedSeconds(0, 'per-second')).toBe(60);
    expect(billedSeconds(59.2, 'per-second')).toBe(60);
    expect(billedSeconds(61.2, 'per-second')).toBe(62);
    expect(machineCost({ hourlyPrice: 3.6, billing: 'per-second', startedAtMs: t0, stoppedAtMs: t0 + 10_000 })).toBeCloseTo(0.06, 10);
    expect(machineCost({ hourlyPrice: 3.6, billing: 'per-second', startedAtMs: t0, stoppedAtMs: t0 + 90_000 })).toBeCloseTo(0.09, 10);
  });

  it('bills Windows per started hour', () => {
    expect(billedSeconds(1, 'per-hour')).toBe(3600);
    expect(billedSeconds(3600, 'per-hour')).toBe(3600);
    expect(billedSeconds(3601, 'per-hour')).toBe(7200);
    expect(machineCost({ hourlyPrice: 0.5, billing: 'per-hour', startedAtMs: t0, stoppedAtMs: t0 + 61 * 60_000 })).toBeCloseTo(1, 10);
  });

  it('charges the minimum when the stop time is not after the start', () => {
    expect(machineCost({ hourlyPrice: 3.6, billing: 'per-second', startedAtMs: t0, stoppedAtMs: t0 - 5000 })).toBeCloseTo(0.06, 10);
  });

  it('takes prices from the config, falling back to the built-in list', () => {
    const settings = ec2Settings({ prices: { 'c6i.large': 0.1, 'x9.huge': 9 } });
    expect(hourlyPrice(settings.prices, 'c6i.large')).toBe(0.1);
    expect(hourlyPrice(settings.prices, 'x9.huge')).toBe(9);
    expect(hourlyPrice(settings.prices, 't3.micro')).toBe(0.0104);
    expect(hourlyPrice(settings.prices, 'z1d.metal')).toBeUndefined();
  });

  it('picks the billing mode by platform', () => {
    const { billing } = ec2Settings();
    expect(billingMode(billing, 'linux')).toBe('per-second');
    expect(billingMode(billing, 'windows')).toBe('per-hour');
  });
});
