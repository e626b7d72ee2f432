import { describe, expect, it } from 'vitest';
import { foresightBilledOverBusy } from '../../src/simulator/foresight.ts';
import { taskclusterCloud } from '../../src/simulator/simulated-cloud.ts';
import type { TraceTask } from '../../src/simulator/trace.ts';

// Taskcluster's model: a restart costs a 20 s boot and 200 s from stop to terminated, 220 s.
const cloud = taskclusterCloud;
const s = 1000;
const task = (atS: number, durationS: number, pool = 'linux'): TraceTask => ({ at: atS * s, duration: durationS * s, pool, run: 'r' });

describe('foresightBilledOverBusy', () => {
  it('keeps a machine through a gap shorter than a restart', () => {
    // Busy 200 s; one machine: its start (220 s) and the 100 s gap idled: (200 + 220 + 100) / 200.
    expect(foresightBilledOverBusy([task(0, 100), task(200, 100)], cloud)).toBeCloseTo(2.6, 12);
  });

  it('restarts through a gap longer than a restart', () => {
    // The 300 s gap costs a restart instead, 220 s: (200 + 220 + 220) / 200.
    expect(foresightBilledOverBusy([task(0, 100), task(400, 100)], cloud)).toBeCloseTo(3.2, 12);
  });

  it('hands a machine freed at the moment another task starts straight to it', () => {
    expect(foresightBilledOverBusy([task(0, 100), task(100, 100)], cloud)).toBeCloseTo(2.1, 12);
  });

  it('needs a machine per task running at once, and one per pool', () => {
    // Two at once in linux: two starts. One in windows: a third. (300 + 3 * 220) / 300.
    expect(foresightBilledOverBusy([task(0, 100), task(0, 100), task(0, 100, 'windows')], cloud)).toBeCloseTo(3.2, 12);
  });

  it('has nothing to say of whole-hour billing', () => {
    expect(foresightBilledOverBusy([task(0, 100)], { ...cloud, billing: 'per-hour' })).toBeUndefined();
  });
});
