import { describe, expect, it } from 'vitest';
import { billedSeconds, machineCost } from '../../src/engine/cost.ts';
import { formatUsd } from '../../src/util/money.ts';

describe('what a machine costs', () => {
  it('bills Linux per second with a one-minute minimum, Windows per started hour', () => {
    expect(billedSeconds(10, 'per-second')).toBe(60);
    expect(billedSeconds(90.2, 'per-second')).toBe(91);
    expect(billedSeconds(10, 'per-hour')).toBe(3600);
    expect(billedSeconds(3601, 'per-hour')).toBe(7200);
  });

  it('prices the billed time at the hourly rate', () => {
    expect(machineCost({ hourlyPrice: 3.6, billing: 'per-second', startedAtMs: 0, stoppedAtMs: 120_000 })).toBeCloseTo(0.12, 10);
    expect(machineCost({ hourlyPrice: 0.5, billing: 'per-hour', startedAtMs: 0, stoppedAtMs: 61 * 60_000 })).toBeCloseTo(1, 10);
  });

  it('is shown in cents, or finer below a cent', () => {
    expect([formatUsd(0), formatUsd(0.0042), formatUsd(0.12), formatUsd(12.345), formatUsd(1234.5)]).toEqual(['$0', '$0.0042', '$0.12', '$12.35', '$1235']);
  });
});
