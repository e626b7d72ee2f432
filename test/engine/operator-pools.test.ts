/** The decisions about operator's pools: their ids, warm workers, idle stops and a provider's fleet-wide cap. */
import { describe, expect, it } from 'vitest';
import { FLEET_SCOPE, fleetPoolName, operatorPoolId, operatorPoolName } from '../../src/engine/pool-identity.ts';
import { mayStopIdle, workersToStart } from '../../src/engine/provisioning.ts';

const pool = { maxWorkers: 4, queued: 0, starting: 0, idle: 0, busy: 0, draining: 0 };

describe("an operator's pool id", () => {
  it('is its name in the fleet, shared by every run that names it; scoped elsewhere', () => {
    expect(operatorPoolId('linux', FLEET_SCOPE)).toBe('pool:linux');
    expect(operatorPoolId('linux', 'fleet/fake')).toBe('pool:linux@fleet/fake');
    expect(operatorPoolId('linux', 'c-0123/real')).toBe('pool:linux@c-0123/real');
    expect(operatorPoolName('pool:linux@c-0123/real')).toBe('linux');
    // Only the fleet's own outlives its runs.
    expect(fleetPoolName('pool:linux')).toBe('linux');
    expect(fleetPoolName('pool:linux@fleet/fake')).toBeUndefined();
    expect(fleetPoolName('p-0123456789abcdef')).toBeUndefined();
    expect(operatorPoolName('p-0123456789abcdef')).toBeUndefined();
  });
});

describe('min_idle', () => {
  it('starts workers to keep that many idle or coming up, with nothing queued', () => {
    expect(workersToStart({ ...pool, minIdle: 2 })).toBe(2);
    expect(workersToStart({ ...pool, minIdle: 2, idle: 1 })).toBe(1);
    expect(workersToStart({ ...pool, minIdle: 2, starting: 2 })).toBe(0);
    // Busy workers are not idle: the pool keeps spare ones beside them.
    expect(workersToStart({ ...pool, minIdle: 1, busy: 2 })).toBe(1);
  });

  it('is a floor under the queue, never a way past max_workers', () => {
    expect(workersToStart({ ...pool, minIdle: 1, queued: 3 })).toBe(3);
    expect(workersToStart({ ...pool, minIdle: 3, queued: 1 })).toBe(3);
    expect(workersToStart({ ...pool, minIdle: 2, busy: 3 })).toBe(1);
    expect(workersToStart({ ...pool, minIdle: 2, busy: 2, draining: 2 })).toBe(0);
  });

  it('is not held back by a ramp-up (warm workers come up at leisure)', () => {
    expect(workersToStart({ ...pool, minIdle: 2 }, { rampUp: true })).toBe(2);
  });

  it('lets an idle worker past its idle_timeout stop only when as many idle workers stay without it', () => {
    expect(mayStopIdle({ idle: 1, minIdle: 0 })).toBe(true);
    expect(mayStopIdle({ idle: 1, minIdle: 1 })).toBe(false);
    expect(mayStopIdle({ idle: 2, minIdle: 1 })).toBe(true);
    expect(mayStopIdle({ idle: 2, minIdle: 2 })).toBe(false);
  });
});

describe("a provider's fleet-wide cap", () => {
  it('holds starts to the room it leaves, whatever the pool wants', () => {
    expect(workersToStart({ ...pool, queued: 4 }, { providerRoom: 1 })).toBe(1);
    expect(workersToStart({ ...pool, queued: 4 }, { providerRoom: 0 })).toBe(0);
    expect(workersToStart({ ...pool, minIdle: 2 }, { providerRoom: 1 })).toBe(1);
    // Past its cap already (lowered by a restart): nothing, never a negative count.
    expect(workersToStart({ ...pool, queued: 4 }, { providerRoom: -3 })).toBe(0);
    // The pool's own cap still holds under a roomy provider.
    expect(workersToStart({ ...pool, queued: 9 }, { providerRoom: 100 })).toBe(4);
  });
});
