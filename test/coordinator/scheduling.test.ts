import { describe, expect, it } from 'vitest';
import type { Step } from '../../src/pipeline/types.ts';
import { runReport } from '../../src/store/run-report.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { waitFor } from '../helpers/processes.ts';
import { protocolHarness } from '../helpers/protocol.ts';

describe('scheduling through the worker protocol, with a manual clock', () => {
  const h = protocolHarness();
  const { start, worker, claimTask, claimAttempt, statuses } = h;

  const matrix = { version: ['1', '2'] };
  const buildAndTest: Partial<Step>[] = [
    { name: 'build', over: ['version'] },
    { name: 'test', over: ['version'], needs: ['build'] },
  ];

  it('queues tasks as their needs succeed and provisions one worker per queued task up to max_workers', async () => {
    const runId = await start(pipelineOf(buildAndTest, { matrix, maxWorkers: 3 }));
    expect(h.provider.starts).toHaveLength(2);
    expect(await statuses(runId)).toEqual({
      'build[version=1]': 'queued', 'build[version=2]': 'queued', 'test[version=1]': 'waiting', 'test[version=2]': 'waiting',
    });
    const w = await worker(0);
    const first = await claimTask(w);
    expect(first).toMatchObject({ task: 'build[version=1]', number: 1, kind: 'run' });
    if (typeof first === 'string') throw new Error('no attempt');
    expect(first.env).toMatchObject({ VERSION: '1', SLIPWAY_RUN: runId, SLIPWAY_TASK: 'build[version=1]', SLIPWAY_STEP: 'build', SLIPWAY_ATTEMPT: '1', SLIPWAY_WORKER: w.workerId });
    const { next } = await h.coordinator.finish(w, first.id, { outcome: 'succeeded', exitCode: 0, error: null }, true);
    expect(next).toMatchObject({ kind: 'attempt', attempt: { task: 'build[version=2]', number: 1 }, workerName: 'wa-2-build[version=2]' });
    expect(await statuses(runId)).toEqual({
      'build[version=1]': 'succeeded', 'build[version=2]': 'running', 'test[version=1]': 'queued', 'test[version=2]': 'waiting',
    });
  });

  it('retries a failed attempt only after its delay, then succeeds', async () => {
    const runId = await start(pipelineOf([{ name: 'flaky' }]));
    const w1 = await worker(0);
    const attempt = await claimTask(w1);
    if (typeof attempt === 'string') throw new Error('no attempt');
    const { finished } = await h.coordinator.finish(w1, attempt.id, { outcome: 'failed', exitCode: 3, error: 'exit code 3' });
    expect(finished).toMatchObject({ kind: 'recorded', stop: true });
    expect(h.events.find((e) => e.kind === 'task.retrying')?.message).toBe('exit code 3; retrying in 1m00s');

    await h.coordinator.stopped(w1, { cause: 'task_failed', reason: 'task flaky failed' });
    await h.coordinator.settled();
    expect(h.provider.starts).toHaveLength(1);
    h.clock.advance(60_000);
    await h.coordinator.healthCheck();
    await h.coordinator.settled();
    expect(h.provider.starts).toHaveLength(2);
    const w2 = await worker(1);
    const second = await claimTask(w2);
    expect(second).toMatchObject({ task: 'flaky', number: 2 });
    if (typeof second === 'string') throw new Error('no attempt');
    await h.coordinator.finish(w2, second.id, { outcome: 'succeeded', exitCode: 0, error: null });
    const report = await runReport(h.store.db, runId);
    expect(report.run.status).toBe('succeeded');
    expect(report.tasks[0]!.attempts.map((a) => [a.number, a.outcome, a.worker])).toEqual([[1, 'failed', w1.workerId], [2, 'succeeded', w2.workerId]]);
  });

  it('blocks the dependents of a task that failed for good; the other branch finishes; the run fails', async () => {
    const runId = await start(pipelineOf(buildAndTest.map((s) => ({ ...s, retry: { attempts: 1, delayMs: 0, backoff: 1, maxDelayMs: 0 } })), { matrix }));
    const [w1, w2] = [await worker(0), await worker(1)];
    const a1 = await claimTask(w1);
    const a2 = await claimTask(w2);
    if (typeof a1 === 'string' || typeof a2 === 'string') throw new Error('no attempt');
    await h.coordinator.finish(w1, a1.id, { outcome: 'failed', exitCode: 2, error: 'exit code 2' });
    await h.coordinator.finish(w2, a2.id, { outcome: 'succeeded', exitCode: 0, error: null });
    const a3 = await claimTask(w2);
    if (typeof a3 === 'string') throw new Error('no attempt');
    expect(a3.task).toBe('test[version=2]');
    await h.coordinator.finish(w2, a3.id, { outcome: 'succeeded', exitCode: 0, error: null });
    const report = await runReport(h.store.db, runId);
    expect(report.run.status).toBe('failed');
    expect(Object.fromEntries(report.tasks.map((t) => [t.id, t.status]))).toEqual({
      'build[version=1]': 'failed', 'build[version=2]': 'succeeded', 'test[version=1]': 'blocked', 'test[version=2]': 'succeeded',
    });
    expect(report.failures).toEqual([{ task: 'build[version=1]', step: 'build', matrix: { version: '1' }, worker: w1.workerId, error: 'exit code 2' }]);
  });

  it('runs done_if on the control activity and skips what is done', async () => {
    const doneIf = { script: { kind: 'inline' as const, text: 'test -f out' }, activity: 'control' };
    const runId = await start(pipelineOf([{ name: 'build', doneIf }, { name: 'ship', needs: ['build'] }]));
    expect(h.provider.starts.map((s) => s.activity)).toEqual(['control']);
    const checker = await worker(0);
    const check = await claimTask(checker);
    expect(check).toMatchObject({ kind: 'check', task: 'build', number: 1 });
    if (typeof check === 'string') throw new Error('no attempt');
    await h.coordinator.finish(checker, check.id, { outcome: 'succeeded', exitCode: 0, error: null });
    await h.coordinator.settled();
    expect(await statuses(runId)).toEqual({ build: 'skipped', ship: 'queued' });
    expect(h.provider.starts.map((s) => s.activity)).toEqual(['control', 'builder']);
  });

  it('with --force ignores done_if; a check that says not done queues the task', async () => {
    const doneIf = { script: { kind: 'inline' as const, text: 'false' }, activity: 'control' };
    const forced = await start(pipelineOf([{ name: 'build', doneIf }]), { force: true });
    expect(await statuses(forced)).toEqual({ build: 'queued' });
    const runId = await start(pipelineOf([{ name: 'build', doneIf }]));
    const checker = await worker(h.provider.starts.findIndex((s) => s.runId === runId));
    const check = await claimTask(checker);
    if (typeof check === 'string') throw new Error('no attempt');
    await h.coordinator.finish(checker, check.id, { outcome: 'failed', exitCode: 1, error: 'exit code 1' });
    expect(await statuses(runId)).toEqual({ build: 'queued' });
    expect(await claimTask(checker)).toBe('none');
  });

  it('declares a silent worker lost after the heartbeat timeout and retries its attempt', async () => {
    const runId = await start(pipelineOf([{ name: 'long' }]));
    const w = await worker(0);
    const attempt = await claimTask(w);
    if (typeof attempt === 'string') throw new Error('no attempt');
    h.clock.advance(30_000);
    expect(await h.coordinator.heartbeat(w, attempt.id, 0)).toBe('ok');
    h.clock.advance(59_000);
    await h.coordinator.healthCheck();
    expect((await statuses(runId)).long).toBe('running');
    h.clock.advance(2_000);
    await h.coordinator.healthCheck();
    await h.coordinator.settled();
    const report = await runReport(h.store.db, runId);
    expect(report.tasks[0]!.attempts[0]).toMatchObject({ outcome: 'lost', error: 'worker lost: no heartbeat for 61s' });
    expect(report.tasks[0]!.status).toBe('queued');
    expect(h.events.some((e) => e.kind === 'worker.lost' && e.worker === w.workerId)).toBe(true);
    expect(h.provider.stops).toEqual([{ pid: 0, worker: w.workerId }]);
    expect(await h.coordinator.heartbeat(w, attempt.id, 0)).toBe('unknown');
  });

  it('cancels a run: the attempt in flight hears it on its heartbeat and the workers are drained', async () => {
    const runId = await start(pipelineOf([{ name: 'a' }, { name: 'b', needs: ['a'] }]));
    const w = await worker(0);
    const attempt = await claimTask(w);
    if (typeof attempt === 'string') throw new Error('no attempt');
    const held = h.coordinator.heartbeat(w, attempt.id, 10_000);
    expect(await h.coordinator.cancelRun(runId, 'by test')).toBe(true);
    expect(await held).toBe('cancel');
    await h.coordinator.finish(w, attempt.id, { outcome: 'cancelled', exitCode: null, error: 'cancelled' });
    const report = await runReport(h.store.db, runId);
    expect(report.run.status).toBe('cancelled');
    expect(report.tasks.map((t) => t.status)).toEqual(['cancelled', 'cancelled']);
    expect(await h.coordinator.claim(w, 0)).toEqual({ kind: 'stop', reason: 'worker is draining' });
  });

  it('gives up on an activity whose workers keep failing their init, failing its tasks with the cause', async () => {
    const runId = await start(pipelineOf([{ name: 'build' }, { name: 'ship', needs: ['build'] }], { maxWorkers: 1 }));
    for (let i = 0; i < 3; i++) {
      expect(h.provider.starts).toHaveLength(i + 1);
      const w = await worker(i);
      await h.coordinator.stopped(w, { cause: 'init_failed', reason: 'init exit code 4' });
      await h.coordinator.settled();
    }
    expect(h.provider.starts).toHaveLength(3);
    const report = await runReport(h.store.db, runId);
    expect(report.run.status).toBe('failed');
    expect(report.tasks.map((t) => t.status)).toEqual(['failed', 'blocked']);
    expect(report.failures[0]!.error).toMatch(/^activity builder: 3 workers in a row failed their init \(last, w-[0-9a-f]{8}: init exit code 4\)$/);
  });

  it('pauses the starts of an activity whose agents fail, 5 s then 10 s, instead of starting the next at once', async () => {
    await start(pipelineOf([{ name: 'build' }], { maxWorkers: 1 }));
    const startsAfter = async (ms: number): Promise<number> => {
      h.clock.advance(ms);
      await h.coordinator.healthCheck();
      await h.coordinator.settled();
      return h.provider.starts.length;
    };
    await h.coordinator.stopped(await worker(0), { cause: 'agent_error', reason: 'agent error: the source does not unpack' });
    await h.coordinator.settled();
    expect(h.provider.starts).toHaveLength(1);
    expect(await startsAfter(4_000)).toBe(1);
    expect(await startsAfter(1_000)).toBe(2);
    await h.coordinator.stopped(await worker(1), { cause: 'agent_error', reason: 'agent error: the source does not unpack' });
    await h.coordinator.settled();
    expect(await startsAfter(9_000)).toBe(2);
    expect(await startsAfter(1_000)).toBe(3);
  });

  it('ramps up workers on its own machine only while the queue outlasts a worker\'s start', async () => {
    h.provider.onThisMachine = true;
    const twenty = { n: Array.from({ length: 20 }, (_, i) => String(i)) };
    await start(pipelineOf([{ name: 'quick', over: ['n'] }], { matrix: twenty, maxWorkers: 8 }));
    expect(h.provider.starts).toHaveLength(1);
    h.clock.advance(1_500); // the worker takes 1.5 s to come up
    const w = await worker(0);
    await h.coordinator.settled();
    expect(h.provider.starts).toHaveLength(1);
    // Attempts of 30 ms: the worker up finishes the other 17 in half a second, before another would be up.
    let attempt = await claimAttempt(w);
    for (let i = 0; i < 3; i++) {
      h.clock.advance(30);
      const { next } = await h.coordinator.finish(w, attempt.id, { outcome: 'succeeded', exitCode: 0, error: null }, true);
      if (next?.kind !== 'attempt') throw new Error('no next attempt');
      attempt = next.attempt;
    }
    // Looked at again after each of the rest, at that pace: no start, to the last task.
    for (let done = 3; ; done++) {
      h.clock.advance(30);
      await h.coordinator.healthCheck();
      await h.coordinator.settled();
      expect(h.provider.starts).toHaveLength(1);
      const { next } = await h.coordinator.finish(w, attempt.id, { outcome: 'succeeded', exitCode: 0, error: null }, true);
      if (next?.kind !== 'attempt') {
        expect(done).toBe(19);
        break;
      }
      attempt = next.attempt;
    }
  });

  it('ramps up workers on its own machine, doubling, for attempts that outlast a worker\'s start', async () => {
    h.provider.onThisMachine = true;
    const twenty = { n: Array.from({ length: 20 }, (_, i) => String(i)) };
    await start(pipelineOf([{ name: 'long', over: ['n'] }], { matrix: twenty, maxWorkers: 8 }));
    h.clock.advance(1_500);
    await claimAttempt(await worker(0));
    await h.coordinator.settled();
    expect(h.provider.starts).toHaveLength(1);
    // Its attempt has run longer than a worker takes to come up: one more is worth it.
    h.clock.advance(1_500);
    await h.coordinator.healthCheck();
    await h.coordinator.settled();
    expect(h.provider.starts).toHaveLength(2);
    await claimAttempt(await worker(1));
    await h.coordinator.settled();
    expect(h.provider.starts).toHaveLength(4);
  });

  it("starts more workers for a run whose attempts run long, though the pool's last run was quick", async () => {
    h.provider.onThisMachine = true;
    const three = { n: ['1', '2', '3'] };
    // A run of quick tasks, done by its one worker: the pool's pace is theirs.
    const quick = await start(pipelineOf([{ name: 'quick', over: ['n'] }], { matrix: three, maxWorkers: 1 }));
    h.clock.advance(1_500);
    const first = await worker(0);
    let attempt = await claimAttempt(first);
    for (let i = 0; i < 3; i++) {
      h.clock.advance(30);
      const { next } = await h.coordinator.finish(first, attempt.id, { outcome: 'succeeded', exitCode: 0, error: null }, true);
      if (next?.kind === 'attempt') attempt = next.attempt;
    }
    expect(await h.coordinator.waitForRun(quick)).toBe('succeeded');
    await h.coordinator.stopped(first, { cause: 'told', reason: 'told to stop' });
    // Then one of the same pool whose tasks take minutes.
    await start(pipelineOf([{ name: 'slow', over: ['n'] }], { matrix: three, maxWorkers: 3 }));
    expect(h.provider.starts).toHaveLength(2);
    h.clock.advance(1_500);
    const second = await worker(1);
    await claimAttempt(second);
    await h.coordinator.settled();
    // At the quick run's pace, the worker up would finish the other two before a new one is up.
    expect(h.provider.starts).toHaveLength(2);
    // Its attempt has run a minute: the pool looks again by itself, and one more worker pays.
    h.clock.advance(60_000);
    await waitFor(() => h.provider.starts.length === 3, 10_000, 'a third worker to be started');
  });

  it('keeps starting workers after a worker that did work', async () => {
    await start(pipelineOf([{ name: 'a' }, { name: 'b' }], { maxWorkers: 1 }));
    const good = await worker(0);
    const attempt = await claimTask(good);
    if (typeof attempt === 'string') throw new Error('no attempt');
    await h.coordinator.finish(good, attempt.id, { outcome: 'succeeded', exitCode: 0, error: null });
    await h.coordinator.stopped(good, { cause: 'idle', reason: 'idle for 60s' });
    await h.coordinator.settled();
    for (let i = 1; i < 3; i++) {
      await h.coordinator.stopped(await worker(i), { cause: 'init_failed', reason: 'init exit code 4' });
      await h.coordinator.settled();
    }
    expect(h.provider.starts).toHaveLength(4);
  });

  it('gives a late report from a lost worker no say over the task', async () => {
    const runId = await start(pipelineOf([{ name: 'a' }]));
    const w = await worker(0);
    const attempt = await claimTask(w);
    if (typeof attempt === 'string') throw new Error('no attempt');
    await h.coordinator.loseWorker(w.workerId, 'test');
    const late = await h.coordinator.finish(w, attempt.id, { outcome: 'succeeded', exitCode: 0, error: null });
    expect(late.finished.kind).toBe('stale');
    expect((await statuses(runId)).a).toBe('queued');
  });
});
