import { describe, expect, it } from 'vitest';
import { heartbeatIntervalMs, isSilent } from '../../src/engine/liveness.ts';
import { paceWorthInMs, queueWorthAWorker, workersToStart } from '../../src/engine/provisioning.ts';
import { afterAttempt, providerRetry, retryDelayMs } from '../../src/engine/retry.ts';
import { afterCheck, runStatusOf, whenReady } from '../../src/engine/task-state.ts';
import { activeName, waitingName } from '../../src/engine/worker-name.ts';
import { givesUp, startPauseMs, type StartHistory, type StopCause } from '../../src/engine/worker-stop.ts';
import type { Step } from '../../src/pipeline/types.ts';

const policy = { attempts: 3, delayMs: 60_000, backoff: 5, maxDelayMs: 30 * 60_000 };

describe('retry', () => {
  it('waits 1 minute then 5 minutes with the default policy', () => {
    expect(retryDelayMs(policy, 2)).toBe(60_000);
    expect(retryDelayMs(policy, 3)).toBe(300_000);
  });

  it('caps the delay at max_delay', () => {
    expect(retryDelayMs({ ...policy, attempts: 10 }, 6)).toBe(30 * 60_000);
  });

  it('queues a failed attempt again with a not-before time from the injected clock', () => {
    expect(afterAttempt(policy, 1, 'failed', 1_000)).toEqual({ status: 'queued', notBefore: 61_000, delayMs: 60_000 });
    expect(afterAttempt(policy, 2, 'timed_out', 0)).toEqual({ status: 'queued', notBefore: 300_000, delayMs: 300_000 });
    expect(afterAttempt(policy, 1, 'lost', 0).status).toBe('queued');
  });

  it('fails the task after its last attempt, and at once when cancelled', () => {
    expect(afterAttempt(policy, 3, 'failed', 0)).toEqual({ status: 'failed' });
    expect(afterAttempt(policy, 1, 'cancelled', 0)).toEqual({ status: 'failed' });
    expect(afterAttempt(policy, 1, 'failed', 0, true)).toEqual({ status: 'failed' });
    expect(afterAttempt(policy, 2, 'succeeded', 0)).toEqual({ status: 'succeeded' });
  });

  it('retries provider calls at 5, 10, 20, 40, 80 seconds', () => {
    expect([2, 3, 4, 5, 6].map((n) => retryDelayMs(providerRetry, n))).toEqual([5_000, 10_000, 20_000, 40_000, 80_000]);
    expect(providerRetry.attempts).toBe(6);
  });
});

describe('provisioning', () => {
  const pool = { maxWorkers: 4, queued: 0, starting: 0, idle: 0, busy: 0, draining: 0 };

  it('starts one worker per queued task up to max_workers', () => {
    expect(workersToStart({ ...pool, queued: 2 })).toBe(2);
    expect(workersToStart({ ...pool, queued: 10 })).toBe(4);
  });

  it('counts idle and starting workers as already covering queued tasks', () => {
    expect(workersToStart({ ...pool, queued: 3, idle: 1, starting: 1 })).toBe(1);
    expect(workersToStart({ ...pool, queued: 1, starting: 1 })).toBe(0);
  });

  it('never goes above max_workers, draining workers included', () => {
    expect(workersToStart({ ...pool, queued: 9, busy: 3, draining: 1 })).toBe(0);
    expect(workersToStart({ ...pool, queued: 9, busy: 2 })).toBe(2);
  });

  it('starts nothing with nothing queued', () => {
    expect(workersToStart(pool)).toBe(0);
  });

  it('ramps up workers that share the coordinator\'s machine: no more starting than are up, one when none is', () => {
    const ramp = { rampUp: true };
    const big = { ...pool, maxWorkers: 8, queued: 100 };
    expect(workersToStart(big, ramp)).toBe(1);
    expect(workersToStart({ ...big, starting: 1 }, ramp)).toBe(0);
    expect(workersToStart({ ...big, busy: 1 }, ramp)).toBe(1);
    expect(workersToStart({ ...big, busy: 2 }, ramp)).toBe(2);
    expect(workersToStart({ ...big, busy: 3, starting: 1 }, ramp)).toBe(2);
    expect(workersToStart({ ...big, busy: 4 }, ramp)).toBe(4);
    // The other limits still hold.
    expect(workersToStart({ ...big, busy: 7 }, ramp)).toBe(1);
    expect(workersToStart({ ...big, queued: 2, busy: 4 }, ramp)).toBe(2);
  });

  it('starts no ramping worker while the workers up would finish the queue before it is up', () => {
    // Attempts of 30 ms, workers up in 1.5 s: one worker does 50 tasks meanwhile.
    const pace = { attemptMs: 30, sampled: 20, running: 0, startMs: 1500 };
    const big = { ...pool, maxWorkers: 8, busy: 1 };
    expect(workersToStart({ ...big, queued: 20 }, { rampUp: true, pace })).toBe(0);
    expect(workersToStart({ ...big, queued: 49 }, { rampUp: true, pace })).toBe(0);
    expect(workersToStart({ ...big, queued: 50 }, { rampUp: true, pace })).toBe(1);
    // Two up (or one up, one starting) double it.
    expect(workersToStart({ ...big, busy: 2, queued: 99 }, { rampUp: true, pace })).toBe(0);
    expect(workersToStart({ ...big, busy: 2, queued: 100 }, { rampUp: true, pace })).toBe(2);
    // Long tasks: every queued one is worth a worker.
    expect(workersToStart({ ...big, queued: 3 }, { rampUp: true, pace: { ...pace, attemptMs: 60_000 } })).toBe(1);
    // Before any worker is up, the pace does not hold the first one back.
    expect(workersToStart({ ...pool, maxWorkers: 8, queued: 1 }, { rampUp: true, pace })).toBe(1);
  });

  it('looks again when the time of the attempts still running makes one more worker pay', () => {
    // 19 attempts ended at 30 ms, one has run 30 ms so far: 20 queued are worth a worker at 75 ms a task.
    const pace = { attemptMs: 30, sampled: 20, running: 1, startMs: 1500 };
    expect(queueWorthAWorker(pace, 1)).toBe(50);
    const inMs = paceWorthInMs(pace, 1, 20)!;
    // The running attempt's time then counts 900 ms more: the average is 75 ms.
    expect(inMs).toBe(900);
    const later = { ...pace, attemptMs: pace.attemptMs + inMs / pace.sampled };
    expect(queueWorthAWorker(later, 1)).toBe(20);
    expect(workersToStart({ ...pool, maxWorkers: 8, busy: 1, queued: 20 }, { rampUp: true, pace: later })).toBe(1);
    // Nothing running yet (the worker up is about to take a task): after a worker's start.
    expect(paceWorthInMs({ ...pace, running: 0 }, 1, 20)).toBe(1500);
  });
});

describe('worker names', () => {
  it('tells waiting and active apart, with the number of tasks', () => {
    expect(waitingName(0, null, 'builder')).toBe('ww-0-builder');
    expect(activeName(0, 'build[version=1]')).toBe('wa-1-build[version=1]');
    expect(waitingName(1, 'build[version=1]', 'builder')).toBe('ww-1-build[version=1]');
  });
});

describe('liveness', () => {
  it('declares a worker lost only after the timeout', () => {
    expect(isSilent(1000, 60_999, 60_000)).toBe(false);
    expect(isSilent(1000, 61_001, 60_000)).toBe(true);
  });

  it('beats often enough that one late beat is not a loss', () => {
    expect(heartbeatIntervalMs(60_000)).toBe(15_000);
  });
});

describe('task state', () => {
  const step: Step = {
    name: 'build', activity: 'builder', over: [], needs: [], exclude: [], env: {}, timeoutMs: null, retry: policy,
    run: { kind: 'inline', text: 'make' },
  };
  const checked: Step = { ...step, doneIf: { script: { kind: 'inline', text: 'test -f x' }, activity: 'control' } };

  it('checks done_if on its activity first, unless forced', () => {
    expect(whenReady(checked, {})).toEqual({ status: 'checking', pool: 'control' });
    expect(whenReady(checked, { force: true })).toEqual({ status: 'queued', pool: 'builder' });
    expect(whenReady(step, {})).toEqual({ status: 'queued', pool: 'builder' });
  });

  it('skips on exit 0, runs on any other exit, asks again when the check was lost', () => {
    expect(afterCheck('succeeded', 1)).toEqual({ status: 'skipped' });
    expect(afterCheck('failed', 1)).toEqual({ status: 'queued' });
    expect(afterCheck('lost', 1)).toEqual({ status: 'checking' });
    expect(afterCheck('lost', 3)).toEqual({ status: 'queued' });
  });

  it('ends a run failed if a task failed or was blocked, succeeded otherwise', () => {
    expect(runStatusOf({ succeeded: 3, running: 1 }, false)).toBe('running');
    expect(runStatusOf({ succeeded: 3, skipped: 2 }, false)).toBe('succeeded');
    expect(runStatusOf({ succeeded: 3, failed: 1, blocked: 2 }, false)).toBe('failed');
    expect(runStatusOf({ succeeded: 1, cancelled: 2 }, true)).toBe('cancelled');
  });
});

describe('giving up on an activity', () => {
  const limits = { initFailures: 3, startFailingMs: 60_000 };
  const failed = (cause: StopCause, createdAt = 0, registered = cause === 'init_failed') => ({ cause, createdAt, registered });

  it('gives up when the last three workers failed their init', () => {
    expect(givesUp([failed('init_failed'), failed('init_failed'), failed('init_failed'), failed('idle')], 1, limits)).toBe('3 workers in a row failed their init');
  });

  it('gives up when no worker could come up for the configured time, and says for how long', () => {
    const history = [failed('start_failed', 70_000), failed('lost', 30_000, false), failed('start_failed', 5_000)];
    expect(givesUp(history, 65_000, limits)).toBe('no worker could come up for 1m00s (3 tried)');
    expect(givesUp(history, 64_000, limits)).toBeUndefined();
  });

  it('carries on while a recent worker did come up, or it has not been failing for long', () => {
    expect(givesUp([failed('init_failed'), failed('idle'), failed('init_failed')], 1, limits)).toBeUndefined();
    expect(givesUp([failed('init_failed'), failed('init_failed')], 1, limits)).toBeUndefined();
    expect(givesUp([failed('start_failed', 0), failed('lost', 0, true)], 10_000_000, { ...limits, startFailingMs: 20_000_000 })).toBeUndefined();
    // A worker that registered and was lost later did come up: the streak ends there.
    expect(givesUp([failed('start_failed', 100_000), failed('lost', 0, true)], 150_000, limits)).toBeUndefined();
    expect(givesUp([failed('start_failed', 100_000), failed('lost', 0, true)], 160_000, limits)).toBe('no worker could come up for 1m00s (1 tried)');
  });
});

describe('pausing the starts of an activity whose agents fail', () => {
  const agentError = (stoppedAt: number, worked = false): StartHistory => ({ cause: 'agent_error', createdAt: stoppedAt - 1_000, registered: true, worked, stoppedAt });

  it('waits 5 s after the first agent error, doubling with each one in a row up to 5 minutes', () => {
    expect(startPauseMs([agentError(100_000)], 100_000)).toBe(5_000);
    expect(startPauseMs([agentError(100_000)], 103_000)).toBe(2_000);
    expect(startPauseMs([agentError(100_000)], 105_000)).toBe(0);
    expect(startPauseMs([agentError(100_000), agentError(90_000), agentError(80_000)], 100_000)).toBe(20_000);
    expect(startPauseMs(Array.from({ length: 20 }, (_, i) => agentError(100_000 - i)), 100_000)).toBe(300_000);
  });

  it('does not wait after a worker that worked, nor after failures that have their own pace', () => {
    expect(startPauseMs([agentError(100_000, true)], 100_000)).toBe(0);
    expect(startPauseMs([{ cause: 'idle', createdAt: 0, registered: true, stoppedAt: 100_000 }, agentError(90_000)], 100_000)).toBe(0);
    expect(startPauseMs([{ cause: 'init_failed', createdAt: 0, registered: true, stoppedAt: 100_000 }], 100_000)).toBe(0);
    expect(startPauseMs([], 100_000)).toBe(0);
  });

  it('counts agent errors of workers that never worked toward giving up', () => {
    expect(givesUp([agentError(70_000), agentError(40_000), agentError(6_000)], 65_000, { initFailures: 3, startFailingMs: 60_000 })).toBe('no worker could come up for 1m00s (3 tried)');
  });
});
