import { describe, expect, it } from 'vitest';
import { machineCost } from '../../../src/engine/cost.ts';
import { billingMode, hourlyPrice } from '../../../src/providers/ec2/prices.ts';
import { ec2Settings } from './aws-fixtures.ts';

describe('EC2 prices', () => {
  it('takes prices from the config, falling back to the built-in list', () => {
    const settings = ec2Settings({ prices: { 'c6i.large': 0.1, 'x9.huge': 9 } });
    expect(hourlyPrice(settings.prices, 'c6i.large')).toBe(0.1);
    expect(hourlyPrice(settings.prices, 'x9.huge')).toBe(9);
    expect(hourlyPrice(settings.prices, 't3.micro')).toBe(0.0104);
    expect(hourlyPrice(settings.prices, 'z1d.metal')).toBeUndefined();
  });

  it('picks the billing mode by platform, as configured', () => {
    const { billing } = ec2Settings();
    expect(billingMode(billing, 'linux')).toBe('per-second');
    expect(billingMode(billing, 'windows')).toBe('per-hour');
    expect(billingMode({ linux: 'per-hour', windows: 'per-hour' }, 'linux')).toBe('per-hour');
  });

  it('gives machineCost what it needs: ten minutes of a Windows c6i.large cost a full hour', () => {
    const { prices, billing } = ec2Settings();
    const cost = machineCost({ hourlyPrice: hourlyPrice(prices, 'c6i.large')!, billing: billingMode(billing, 'windows'), startedAtMs: 0, stoppedAtMs: 600_000 });
    expect(cost).toBeCloseTo(0.085, 10);
  });
});
