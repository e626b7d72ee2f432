import { describe, expect, it } from 'vitest';
import { warmTarget } from '../../src/engine/warm-target.ts';

const s = 1000;

describe('warmTarget (min_idle = "auto")', () => {
  it('keeps none warm before any task started, or with no boot time to cover', () => {
    expect(warmTarget([], 20 * s)).toBe(0);
    expect(warmTarget([0, 1, 2], 0)).toBe(0);
  });

  it('is how many tasks started within one boot time, at each start, read at the quantile', () => {
    // Boot 20 s. Starts at 0, 5, 10 and 100 s: within the 20 s before each (itself
    // included) 1, 2, 3 and 1 started. Sorted [1, 1, 2, 3]: the 95th percentile is 3 (the
    // burst of three), the median 1.
    const starts = [0, 5 * s, 10 * s, 100 * s];
    expect(warmTarget(starts, 20 * s)).toBe(3);
    expect(warmTarget(starts, 20 * s, 0.5)).toBe(1);
    // The order they come in does not matter.
    expect(warmTarget([100 * s, 10 * s, 0, 5 * s], 20 * s)).toBe(3);
  });

  it('does not count a start a whole boot time earlier: a worker started then would be up', () => {
    expect(warmTarget([0, 20 * s, 40 * s], 20 * s)).toBe(1);
    expect(warmTarget([0, 20 * s - 1, 40 * s - 2], 20 * s)).toBe(2);
  });

  it('follows the load: a rare burst among steady single tasks does not set it', () => {
    // 99 tasks a minute apart and one burst of 5: the burst is 5 of 104 starts, under 5 %.
    const steady = Array.from({ length: 99 }, (_, i) => i * 60 * s);
    const burst = [7_000 * s, 7_001 * s, 7_002 * s, 7_003 * s, 7_004 * s];
    expect(warmTarget([...steady, ...burst], 20 * s)).toBe(1);
    // When bursts are the load, they set it.
    const bursts = Array.from({ length: 20 }, (_, i) => [0, 1, 2].map((k) => i * 600 * s + k * s)).flat();
    expect(warmTarget(bursts, 20 * s)).toBe(3);
  });
});
