import { describe, expect, it } from 'vitest';
import { runSpend } from '../../src/engine/cost.ts';
import { workersWithinSpend } from '../../src/engine/provisioning.ts';

describe('workersWithinSpend', () => {
  it('is how many machines the hourly cap pays for at once', () => {
    expect(workersWithinSpend(2, 0.5)).toBe(4);
    expect(workersWithinSpend(1.99, 0.5)).toBe(3);
    // 0.3 / 0.1 is 2.9999999999999996 in floating point: a cap written as a multiple pays for that many.
    expect(workersWithinSpend(0.3, 0.1)).toBe(3);
    expect(workersWithinSpend(0.4, 0.5)).toBe(0);
  });

  it('holds nothing back without a cap or a price', () => {
    expect(workersWithinSpend(undefined, 0.5)).toBe(Infinity);
    expect(workersWithinSpend(2, undefined)).toBe(Infinity);
    expect(workersWithinSpend(2, 0)).toBe(Infinity);
  });
});

describe('runSpend', () => {
  it("adds the run's attempts to what its own machines cost beyond the attempts they ran", () => {
    // $1.00 of its attempts; a machine it started billed $0.60 of which $0.50 ran attempts (any run's).
    expect(runSpend(1, [{ billedUsd: 0.6, busyUsd: 0.5 }])).toBeCloseTo(1.1, 10);
  });

  it('never takes back from a run what a machine of its own was busy beyond its bill', () => {
    // Attempts counted to now on a machine whose bill stopped: nothing is owed back.
    expect(runSpend(0.2, [{ billedUsd: 0.6, busyUsd: 0.9 }])).toBeCloseTo(0.2, 10);
  });
});
