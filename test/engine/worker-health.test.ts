import { describe, expect, it } from 'vitest';
import { judgeWorker, type CheckedWorker, type HealthFacts } from '../../src/engine/worker-health.ts';

const worker = (over: Partial<CheckedWorker> = {}): CheckedWorker => ({ state: 'idle', createdAt: 1_000, hasMachine: true, owner: 'c-me', tasksDone: 1, ...over });
const facts = (over: Partial<HealthFacts> = {}): HealthFacts => ({
  now: 10_000, self: 'c-me', startedAt: 0, alive: new Set(['c-me']), startingHere: false, mayRegister: true, startTimeoutMs: 5_000,
  machineGone: false, lifetimeMs: undefined, keepsWarm: false, ...over,
});

describe('the health check judging a live worker', () => {
  it('leaves a start in flight in another live coordinator to that one, even a slow one', () => {
    expect(judgeWorker(worker({ state: 'starting', owner: 'c-other', hasMachine: false }), facts({ alive: new Set(['c-me', 'c-other']) })))
      .toEqual({ kind: 'not-mine' });
  });

  it('gives up on a start whose coordinator is gone before it recorded a machine', () => {
    expect(judgeWorker(worker({ state: 'starting', owner: 'c-gone', hasMachine: false, createdAt: 9_000 }), facts()))
      .toEqual({ kind: 'lose', reason: 'its start was cut short: the coordinator starting it is gone' });
  });

  it('gives up at once on a started machine whose coordinator is gone when it was told to reach that one alone', () => {
    const orphan = worker({ state: 'starting', owner: 'c-gone', hasMachine: true, createdAt: 9_000 });
    expect(judgeWorker(orphan, facts({ mayRegister: false })))
      .toEqual({ kind: 'lose', reason: 'its start was cut short: its machine can reach only the coordinator that started it, which is gone' });
    // One that may register elsewhere (a restart on the same address, a shared public URL) is given the start timeout.
    expect(judgeWorker(orphan, facts()).kind).toBe('fine');
    expect(judgeWorker({ ...orphan, createdAt: 4_000 }, facts())).toEqual({ kind: 'lose', reason: 'did not register within 5s' });
  });

  it('waits for its own start until the start timeout, counted from its own start at the earliest', () => {
    expect(judgeWorker(worker({ state: 'starting', createdAt: 6_000 }), facts()).kind).toBe('fine');
    expect(judgeWorker(worker({ state: 'starting', createdAt: 4_000 }), facts())).toEqual({ kind: 'lose', reason: 'did not register within 5s' });
    // A coordinator that restarted gives an orphaned start (with its machine recorded) the timeout again.
    expect(judgeWorker(worker({ state: 'starting', createdAt: 1_000, owner: null }), facts({ startedAt: 8_000 })).kind).toBe('fine');
    expect(judgeWorker(worker({ state: 'starting', createdAt: 1_000 }), facts({ startingHere: true })).kind).toBe('fine');
  });

  it('loses a worker whose machine is gone', () => {
    expect(judgeWorker(worker(), facts({ machineGone: true }))).toEqual({ kind: 'lose', reason: 'its machine is gone' });
  });

  it('drains a worker past its lifetime only once it was used, or when its pool keeps workers warm', () => {
    const old = facts({ lifetimeMs: 3_000 });
    expect(judgeWorker(worker({ tasksDone: 1 }), old)).toEqual({ kind: 'drain', reason: "older than its activity's max_lifetime (3s)" });
    expect(judgeWorker(worker({ state: 'busy', tasksDone: 0 }), old).kind).toBe('drain');
    expect(judgeWorker(worker({ tasksDone: 0 }), old).kind).toBe('fine');
    expect(judgeWorker(worker({ tasksDone: 0 }), facts({ lifetimeMs: 3_000, keepsWarm: true })).kind).toBe('drain');
    expect(judgeWorker(worker({ tasksDone: 1 }), facts({ lifetimeMs: 30_000 })).kind).toBe('fine');
  });
});
