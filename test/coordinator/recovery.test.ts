import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { WorkerIdentity } from '../../src/coordinator/coordinator.ts';
import { runReport } from '../../src/store/run-report.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { logText } from '../helpers/log-text.ts';
import { ManualClock } from '../helpers/manual-clock.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { waitFor } from '../helpers/processes.ts';
import { protocolHarness, RecordingProvider } from '../helpers/protocol.ts';
import { tempDir } from '../helpers/temp.ts';
import { expandTasks } from '../../src/pipeline/expand.ts';

const succeeded = { outcome: 'succeeded' as const, exitCode: 0, error: null };

describe('answers lost on the way back', () => {
  const h = protocolHarness();

  it('gives a busy worker that claims again the attempt it was already given, not a second one', async () => {
    const runId = await h.start(pipelineOf([{ name: 'a' }, { name: 'b' }], { maxWorkers: 1 }));
    const w = await h.worker(0);
    const first = await h.claimAttempt(w);
    const again = await h.claimAttempt(w);
    expect(again).toEqual(first);
    await h.coordinator.finish(w, first.id, succeeded);
    const report = await runReport(h.store.db, runId);
    expect(report.tasks.find((t) => t.id === first.task)!.attempts).toHaveLength(1);
    expect(report.tasks.find((t) => t.id !== first.task)!.status).toBe('queued');
  });

  it('answers a repeated finish as the first one, with the same next attempt, and records it once', async () => {
    const runId = await h.start(pipelineOf([{ name: 'a' }, { name: 'b' }], { maxWorkers: 1 }));
    const w = await h.worker(0);
    const first = await h.claimAttempt(w);
    const once = await h.coordinator.finish(w, first.id, succeeded, true);
    const twice = await h.coordinator.finish(w, first.id, succeeded, true);
    expect(once.finished).toMatchObject({ kind: 'recorded', stop: false });
    expect(twice.finished).toEqual(once.finished);
    expect(twice.next).toEqual(once.next);
    const report = await runReport(h.store.db, runId);
    expect(report.tasks.map((t) => [t.status, t.attempts.length])).toEqual([['succeeded', 1], ['running', 1]]);
    // A different result for the same attempt is not a repeat: the first stands.
    expect((await h.coordinator.finish(w, first.id, { outcome: 'failed', exitCode: 1, error: 'exit code 1' })).finished.kind).toBe('stale');
  });
});

describe('fencing: a worker given up on cannot overwrite a newer attempt', () => {
  const h = protocolHarness();

  it('refuses the old worker\'s credential and attempt\'s result, and keeps the newer result', async () => {
    const runId = await h.start(pipelineOf([{ name: 'a', retry: { attempts: 2, delayMs: 0, backoff: 1, maxDelayMs: 0 } }]));
    const registration = await h.coordinator.register(h.provider.starts[0]!.registrationToken);
    if (registration.kind !== 'registered') throw new Error('not registered');
    const old: WorkerIdentity = { workerId: registration.workerId, runId, activity: registration.activity };
    const stale = await h.claimAttempt(old);

    h.clock.advance(61_000);
    await h.coordinator.checkLiveness();
    await h.coordinator.healthCheck();
    await h.coordinator.settled();
    const fresh = await h.worker(1);
    const newer = await h.claimAttempt(fresh);
    expect(newer).toMatchObject({ task: 'a', number: 2 });

    // The old worker comes back: its credential ended with it, and even under its identity
    // everything it says is refused.
    expect(await h.coordinator.authenticate(registration.credential)).toBeUndefined();
    expect((await h.coordinator.finish(old, stale.id, succeeded)).finished.kind).toBe('stale');
    expect(await h.coordinator.heartbeat(old, stale.id, 0)).toBe('unknown');
    expect(h.coordinator.output(old, stale.id, 'late output\n')).toBe(false);
    expect(await h.coordinator.claim(old, 0)).toEqual({ kind: 'stop', reason: 'worker is lost' });

    await h.coordinator.finish(fresh, newer.id, { outcome: 'failed', exitCode: 3, error: 'exit code 3' });
    const report = await runReport(h.store.db, runId);
    expect(report.tasks[0]!.status).toBe('failed');
    expect(report.tasks[0]!.attempts.map((a) => [a.number, a.outcome])).toEqual([[1, 'lost'], [2, 'failed']]);
  });

  it('ends a cancelled run\'s attempt with the run: a result reported after a rerun is stale and moves nothing', async () => {
    const runId = await h.start(pipelineOf([{ name: 'a' }]));
    const w = await h.worker(0);
    const before = await h.claimAttempt(w);
    await h.coordinator.cancelRun(runId, 'by test');
    expect((await h.coordinator.rerun(runId)).kind).toBe('rerun');
    // Its worker's credential ended with the run, so no route takes this report; nor does the coordinator.
    expect((await h.coordinator.finish(w, before.id, succeeded)).finished.kind).toBe('stale');
    const report = await runReport(h.store.db, runId);
    expect(report.run.status).toBe('running');
    expect(report.tasks[0]!.status).toBe('queued');
    expect(report.tasks[0]!.attempts[0]).toMatchObject({ outcome: 'cancelled', error: 'by test' });
  });
});

describe('silence', () => {
  const h = protocolHarness();

  it('ends an attempt whose heartbeats stopped while its worker still talks, and retries it', async () => {
    const runId = await h.start(pipelineOf([{ name: 'a' }]));
    const w = await h.worker(0);
    const attempt = await h.claimAttempt(w);
    for (let i = 0; i < 4; i++) {
      h.clock.advance(20_000);
      h.coordinator.workerOutput(w, 'still here\n');
    }
    await h.coordinator.checkLiveness();
    const report = await runReport(h.store.db, runId);
    expect(report.tasks[0]!.attempts[0]).toMatchObject({ outcome: 'lost', error: `no heartbeat for attempt ${attempt.id} for 80s` });
    expect(report.tasks[0]!.status).toBe('queued');
    expect(h.events.some((e) => e.kind === 'worker.lost')).toBe(false);
    expect(await h.coordinator.heartbeat(w, attempt.id, 0)).toBe('unknown');
  });

  it('loses a worker whose machine the provider says is gone, without waiting for the heartbeat timeout', async () => {
    const runId = await h.start(pipelineOf([{ name: 'a' }]));
    const w = await h.worker(0);
    await h.claimAttempt(w);
    h.provider.gone.add(w.workerId);
    await h.coordinator.healthCheck();
    await h.coordinator.settled();
    const report = await runReport(h.store.db, runId);
    expect(report.tasks[0]!.attempts[0]).toMatchObject({ outcome: 'lost', error: 'worker lost: its machine is gone' });
    expect(report.tasks[0]!.status).toBe('queued');
    expect(h.provider.stops).toEqual([{ pid: 0, worker: w.workerId }]);
  });

  it('heals a queued task whose worker never registered: that worker is lost and another started', async () => {
    await h.start(pipelineOf([{ name: 'a' }]));
    expect(h.provider.starts).toHaveLength(1);
    h.clock.advance(121_000);
    await h.coordinator.healthCheck();
    await h.coordinator.settled();
    expect(h.events.find((e) => e.kind === 'worker.lost')?.message).toBe('did not register within 120s');
    expect(h.provider.starts).toHaveLength(2);
  });
});

describe('the drain handshake', () => {
  const h = protocolHarness();

  it('lets a worker past its lifetime finish its task, and stops its machine only after it says it stopped', async () => {
    const pipeline = pipelineOf([{ name: 'a' }, { name: 'b' }], { maxWorkers: 1 });
    pipeline.activities.builder!.maxLifetimeMs = 60_000;
    const runId = await h.start(pipeline);
    const w = await h.worker(0);
    const attempt = await h.claimAttempt(w);
    h.clock.advance(61_000);
    expect(await h.coordinator.heartbeat(w, attempt.id, 0)).toBe('ok');
    await h.coordinator.healthCheck();
    await h.coordinator.settled();
    expect(h.events.find((e) => e.kind === 'worker.stopping')?.message).toBe("older than its activity's max_lifetime (60s)");
    expect(h.provider.stops).toEqual([]);
    expect(await h.coordinator.heartbeat(w, attempt.id, 0)).toBe('ok');

    const { finished, next } = await h.coordinator.finish(w, attempt.id, succeeded, true);
    expect(finished).toMatchObject({ kind: 'recorded', stop: true });
    expect(next).toBeNull();
    expect((await h.statuses(runId))[attempt.task]).toBe('succeeded');
    expect(h.provider.stops).toEqual([]);

    await h.coordinator.stopped(w, { cause: 'told', reason: 'told to stop' });
    await h.coordinator.settled();
    await h.coordinator.close();
    expect(h.provider.stops).toEqual([{ pid: 0, worker: w.workerId }]);
    expect(h.provider.stopOptions).toEqual([{ drained: true }]);
  });

  it('tells an idle worker past its lifetime to stop on its next claim', async () => {
    const pipeline = pipelineOf([{ name: 'a' }, { name: 'b' }], { maxWorkers: 1 });
    pipeline.activities.builder!.maxLifetimeMs = 60_000;
    await h.start(pipeline);
    const w = await h.worker(0);
    await h.coordinator.finish(w, (await h.claimAttempt(w)).id, succeeded);
    h.clock.advance(30_000);
    h.coordinator.workerOutput(w, 'idle\n');
    h.clock.advance(31_000);
    await h.coordinator.healthCheck();
    expect(await h.coordinator.claim(w, 0)).toEqual({ kind: 'stop', reason: 'worker is draining' });
  });

  it('gives a worker that came up after its lifetime had passed one task before draining it, so a slow start cannot starve the run', async () => {
    const pipeline = pipelineOf([{ name: 'a' }, { name: 'b' }], { maxWorkers: 1 });
    pipeline.activities.builder!.maxLifetimeMs = 1_000;
    const runId = await h.start(pipeline);
    h.clock.advance(2_000);
    const w = await h.worker(0);
    await h.coordinator.healthCheck();
    const attempt = await h.claimAttempt(w);
    await h.coordinator.healthCheck();
    await h.coordinator.settled();
    expect(h.events.filter((e) => e.kind === 'worker.stopping').map((e) => e.message)).toEqual(["older than its activity's max_lifetime (1s)"]);
    const { finished, next } = await h.coordinator.finish(w, attempt.id, succeeded, true);
    expect(finished).toMatchObject({ kind: 'recorded', stop: true });
    expect(next).toBeNull();
    expect((await h.statuses(runId))[attempt.task]).toBe('succeeded');
  });
});

describe('provider failures', () => {
  const h = protocolHarness({ providerRetry: { attempts: 6, delayMs: 2, backoff: 2, maxDelayMs: 16 }, startGiveUpMs: 10 * 60_000 });

  it('retries a failed start by the policy and the worker comes up', async () => {
    let failures = 2;
    h.provider.failStart = () => (failures-- > 0 ? new Error('injected: out of capacity') : undefined);
    const runId = await h.start(pipelineOf([{ name: 'a' }]));
    while (h.provider.starts.length < 3) await sleep(5);
    await h.coordinator.settled();
    expect(new Set(h.provider.starts.map((s) => s.workerId)).size).toBe(1);
    const w = await h.worker(2);
    await h.coordinator.finish(w, (await h.claimAttempt(w)).id, succeeded);
    expect((await runReport(h.store.db, runId)).run.status).toBe('succeeded');
    const log = await logText(h.coordinator.logs, h.coordinator.logs.workerPath(runId, w.workerId));
    expect(log).toContain('start 1 of 6 failed: injected: out of capacity; retrying in 0s');
    expect(log).toContain('start 2 of 6 failed');
  });

  it('fails the queued tasks of an activity that could not start a worker for the configured time, saying why', async () => {
    h.provider.failStart = () => new Error('injected: quota exceeded');
    const runId = await h.start(pipelineOf([{ name: 'build' }, { name: 'ship', needs: ['build'] }]));
    const startsFinished = async (n: number) => { while (h.provider.starts.length < n) await sleep(5); await h.coordinator.settled(); };
    await startsFinished(6);
    for (const minutes of [5, 5]) {
      expect((await runReport(h.store.db, runId)).run.status).toBe('running');
      h.clock.advance(minutes * 60_000);
      await h.coordinator.healthCheck();
      await h.coordinator.settled();
      if (minutes === 5 && h.provider.starts.length < 12) await startsFinished(12);
    }
    const report = await runReport(h.store.db, runId);
    expect(report.run.status).toBe('failed');
    expect(report.tasks.map((t) => t.status)).toEqual(['failed', 'blocked']);
    expect(report.failures[0]!.error).toMatch(/^activity builder: no worker could come up for 10m00s \(2 tried\) \(last, w-[0-9a-f]{8}: injected: quota exceeded\)$/);
  });
});

describe('a restarted coordinator', () => {
  let dir: ReturnType<typeof tempDir> | undefined;
  afterEach(() => dir?.remove());

  it('resumes: workers get a heartbeat timeout from the restart to report, and one that never comes back is lost', async () => {
    dir = tempDir();
    const clock = new ManualClock();
    const provider = new RecordingProvider();
    const storePath = join(dir.path, 'slipway.db');
    const first = await testCoordinator(dir.path, { clock, providers: [provider], storePath });
    first.coordinator.start({ local: 'http://127.0.0.1:1', remote: 'http://127.0.0.1:1' });
    const pipeline = pipelineOf([{ name: 'a' }, { name: 'b' }], { maxWorkers: 2 });
    pipeline.sourceDir = first.sourceDir;
    const { runId } = await first.coordinator.createRun(pipeline, expandTasks(pipeline, {}), {}, { fakeWorkers: false, noProvision: false });
    await first.coordinator.settled();
    const registrations = [];
    for (const start of provider.starts) {
      const r = await first.coordinator.register(start.registrationToken);
      if (r.kind !== 'registered') throw new Error('not registered');
      registrations.push(r);
    }
    const [alive, dead] = registrations.map((r) => ({ workerId: r.workerId, runId, activity: r.activity })) as [WorkerIdentity, WorkerIdentity];
    const attempts = [];
    for (const w of [alive, dead]) {
      const answer = await first.coordinator.claim(w, 0);
      if (answer.kind !== 'attempt') throw new Error('no attempt');
      attempts.push(answer.attempt);
    }
    // The coordinator dies (nothing more is written; what it was still doing fails) and is down for ten minutes.
    first.coordinator.onFault(() => undefined);
    await first.store.close();
    clock.advance(10 * 60_000);

    const second = await testCoordinator(dir.path, { clock, providers: [provider], storePath });
    try {
      second.coordinator.start({ local: 'http://127.0.0.1:1', remote: 'http://127.0.0.1:1' });
      await second.coordinator.healthCheck();
      expect((await runReport(second.store.db, runId)).tasks.map((t) => t.status)).toEqual(['running', 'running']);

      clock.advance(30_000);
      const identity = await second.coordinator.authenticate(registrations[0]!.credential);
      expect(identity).toEqual(alive);
      expect(await second.coordinator.heartbeat(alive, attempts[0]!.id, 0)).toBe('ok');
      await second.coordinator.finish(alive, attempts[0]!.id, succeeded);

      clock.advance(31_000);
      await second.coordinator.checkLiveness();
      await second.coordinator.settled();
      const report = await runReport(second.store.db, runId);
      expect(report.tasks.map((t) => [t.id, t.status, t.attempts.map((a) => a.outcome)])).toEqual([
        [attempts[0]!.task, 'succeeded', ['succeeded']],
        [attempts[1]!.task, 'queued', ['lost']],
      ]);
      expect(report.tasks[1]!.attempts[0]!.error).toBe('worker lost: no heartbeat for 61s');
    } finally {
      await second.coordinator.close();
      await second.store.close();
    }
  });
});

describe('a start cut short by a restart', () => {
  let dir: ReturnType<typeof tempDir> | undefined;
  afterEach(() => dir?.remove());

  it('is given up on by the next coordinator at once, and the task gets a new worker', async () => {
    dir = tempDir();
    const clock = new ManualClock();
    const storePath = join(dir.path, 'slipway.db');
    const refusing = new RecordingProvider();
    refusing.failStart = () => new Error('injected: no capacity');
    const first = await testCoordinator(dir.path, { clock, providers: [refusing], storePath, settings: { providerRetry: { attempts: 6, delayMs: 60_000, backoff: 2, maxDelayMs: 80_000 } } });
    const pipeline = pipelineOf([{ name: 'a' }]);
    pipeline.sourceDir = first.sourceDir;
    const { runId } = await first.coordinator.createRun(pipeline, expandTasks(pipeline, {}), {}, { fakeWorkers: false, noProvision: false });
    await first.coordinator.settled();
    // The first start failed and its retry waits in that process's memory when it dies.
    await first.coordinator.close();
    await first.store.close();
    clock.advance(1_000);

    const provider = new RecordingProvider();
    const second = await testCoordinator(dir.path, { clock, providers: [provider], storePath });
    try {
      await second.coordinator.healthCheck();
      await second.coordinator.settled();
      const workers = await second.store.db.selectFrom('workers').select(['state', 'error']).where('run_id', '=', runId).orderBy('created_at').execute();
      expect(workers[0]).toEqual({ state: 'lost', error: 'its start was cut short: the coordinator starting it is gone' });
      expect(provider.starts.map((s) => s.runId)).toEqual([runId]);
    } finally {
      await second.coordinator.close();
      await second.store.close();
    }
  });
});

describe('a machine started by a coordinator that died before it registered', () => {
  let dir: ReturnType<typeof tempDir> | undefined;
  afterEach(() => dir?.remove());

  /**
   * The state of the worker whose machine (on this machine) the first coordinator started,
   * once the next one, at `urlOfNext`, checked it; with `urlOfAnother`, a third live
   * coordinator on the store serves that URL.
   */
  async function orphanAfterCheck(urlOfNext: string, urlOfAnother?: string): Promise<{ state: string; error: string | null; stopped: boolean }> {
    dir = tempDir();
    const clock = new ManualClock();
    const storePath = join(dir.path, 'slipway.db');
    const onThisMachine = () => Object.assign(new RecordingProvider(), { onThisMachine: true });
    const first = await testCoordinator(dir.path, { clock, providers: [onThisMachine()], storePath });
    first.coordinator.start({ local: 'http://127.0.0.1:1001', remote: '' });
    const pipeline = pipelineOf([{ name: 'a' }]);
    pipeline.sourceDir = first.sourceDir;
    const { runId } = await first.coordinator.createRun(pipeline, expandTasks(pipeline, {}), {}, { fakeWorkers: false, noProvision: false });
    await first.coordinator.settled();
    // It dies: nothing more is written, and its lease runs out.
    first.coordinator.onFault(() => undefined);
    await first.store.close();
    clock.advance(61_000);

    const another = urlOfAnother === undefined ? undefined : await testCoordinator(dir.path, { clock, providers: [onThisMachine()], storePath });
    const provider = onThisMachine();
    const next = await testCoordinator(dir.path, { clock, providers: [provider], storePath });
    try {
      if (another) {
        another.coordinator.start({ local: urlOfAnother!, remote: '' });
        const joined = async () => (await next.store.db.selectFrom('coordinators').select('id').where('local_url', '=', urlOfAnother!).executeTakeFirst()) !== undefined;
        await waitFor(joined, 10_000, 'the other coordinator to join the store');
      }
      next.coordinator.start({ local: urlOfNext, remote: '' });
      await next.coordinator.healthCheck();
      await next.coordinator.settled();
      const [orphan] = await next.store.db.selectFrom('workers').select(['id', 'state', 'error']).where('run_id', '=', runId).orderBy('created_at').execute();
      return { state: orphan!.state, error: orphan!.error, stopped: provider.stops.some((machine) => machine.worker === orphan!.id) };
    } finally {
      await next.coordinator.close();
      await next.store.close();
      await another?.coordinator.close();
      await another?.store.close();
    }
  }

  it('is given up on at once, and stopped, when it was told to reach that coordinator alone', async () => {
    expect(await orphanAfterCheck('http://127.0.0.1:1002')).toEqual({
      state: 'lost', error: 'its start was cut short: its machine can reach only the coordinator that started it, which is gone', stopped: true,
    });
  });

  it('is given the start timeout when it may register here (it listens where the first did)', async () => {
    expect(await orphanAfterCheck('http://127.0.0.1:1001')).toEqual({ state: 'starting', error: null, stopped: false });
  });

  it('is given the start timeout when another live coordinator on the store serves its URL', async () => {
    expect(await orphanAfterCheck('http://127.0.0.1:1002', 'http://127.0.0.1:1001')).toEqual({ state: 'starting', error: null, stopped: false });
  });
});

describe('a coordinator for one command beside a server on the same store', () => {
  let dir: ReturnType<typeof tempDir> | undefined;
  afterEach(() => dir?.remove());

  it('leaves the server\'s runs and workers alone, and heals its own', async () => {
    dir = tempDir();
    const clock = new ManualClock();
    const storePath = join(dir.path, 'slipway.db');
    const serverProvider = new RecordingProvider();
    const server = await testCoordinator(dir.path, { clock, providers: [serverProvider], storePath });
    const commandProvider = new RecordingProvider();
    const command = await testCoordinator(dir.path, { clock, providers: [commandProvider], storePath, settings: { ownRunsOnly: true } });
    try {
      const pipeline = pipelineOf([{ name: 'a' }, { name: 'b' }], { maxWorkers: 1 });
      pipeline.sourceDir = server.sourceDir;
      const served = await server.coordinator.createRun(pipeline, expandTasks(pipeline, {}), {}, { fakeWorkers: false, noProvision: false });
      await server.coordinator.settled();
      const registration = await server.coordinator.register(serverProvider.starts[0]!.registrationToken);
      if (registration.kind !== 'registered') throw new Error('not registered');
      await server.coordinator.claim({ workerId: registration.workerId, runId: served.runId, activity: 'builder' }, 0);

      const own = await command.coordinator.createRun(pipeline, expandTasks(pipeline, {}), {}, { fakeWorkers: false, noProvision: false });
      await command.coordinator.settled();
      clock.advance(121_000);
      await command.coordinator.healthCheck();
      await command.coordinator.settled();
      // The server's busy worker is not the command's to judge, nor its queued task to serve.
      expect(commandProvider.starts.map((s) => s.runId)).toEqual([own.runId, own.runId]);
      expect((await runReport(server.store.db, served.runId)).tasks.map((t) => t.status).sort()).toEqual(['queued', 'running']);
      // Its own worker that never registered is given up on and replaced.
      expect(commandProvider.starts).toHaveLength(2);
      expect(commandProvider.stops).toEqual([{ pid: 0, worker: commandProvider.starts[0]!.workerId }]);
    } finally {
      await command.coordinator.close();
      await server.coordinator.close();
      await command.store.close();
      await server.store.close();
    }
  });
});

describe('cost', () => {
  const h = protocolHarness();

  it('records each priced machine from its start and sums a run\'s machines, those still running up to now', async () => {
    h.provider.handleExtras = { hourly_usd: 3.6, billing: 'per-second' };
    const runId = await h.start(pipelineOf([{ name: 'a' }]));
    const w = await h.worker(0);
    h.clock.advance(120_000);
    await h.coordinator.finish(w, (await h.claimAttempt(w)).id, succeeded);
    await h.coordinator.stopped(w, { cause: 'idle', reason: 'idle' });
    const row = await h.store.db.selectFrom('workers').select(['hourly_usd', 'billing', 'machine_at', 'stopped_at']).where('id', '=', w.workerId).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ hourly_usd: 3.6, billing: 'per-second' });
    expect(Number(row.stopped_at) - Number(row.machine_at)).toBe(120_000);
    expect((await runReport(h.store.db, runId)).run.cost_usd).toBe(0.12);
  });

  it('is left out for a run whose machines have no price', async () => {
    const runId = await h.start(pipelineOf([{ name: 'a' }]));
    expect((await runReport(h.store.db, runId)).run).not.toHaveProperty('cost_usd');
  });
});

describe('worker names on machines', () => {
  const h = protocolHarness();

  it('pushes each new name to a provider that shows names, the latest last', async () => {
    await h.start(pipelineOf([{ name: 'a' }, { name: 'b' }], { maxWorkers: 1 }));
    const w = await h.worker(0);
    const first = await h.claimAttempt(w);
    const { next } = await h.coordinator.finish(w, first.id, succeeded, true);
    if (next?.kind !== 'attempt') throw new Error('no next attempt');
    await h.coordinator.finish(w, next.attempt.id, succeeded);
    const final = `${w.workerId} ww-2-${next.attempt.task}`;
    for (let tries = 0; tries < 100 && h.provider.renames.at(-1) !== final; tries++) await sleep(10);
    expect(h.provider.renames[0]).toBe(`${w.workerId} wa-1-${first.task}`);
    expect(h.provider.renames.at(-1)).toBe(final);
  });
});

describe('two coordinators on one store', () => {
  let dir: ReturnType<typeof tempDir> | undefined;
  afterEach(() => dir?.remove());

  /** A (which starts the run and its worker) and B on one store file, with one clock. */
  async function twoCoordinators() {
    dir = tempDir();
    const clock = new ManualClock();
    const storePath = join(dir.path, 'slipway.db');
    const urls = { local: 'http://127.0.0.1:1', remote: 'http://127.0.0.1:1' };
    const aProvider = new RecordingProvider();
    aProvider.listsMachines = true;
    const bProvider = new RecordingProvider();
    const a = await testCoordinator(join(dir.path, 'a'), { clock, providers: [aProvider], storePath });
    const b = await testCoordinator(join(dir.path, 'b'), { clock, providers: [bProvider], storePath });
    a.coordinator.start(urls);
    const pipeline = pipelineOf([{ name: 'a' }], { maxWorkers: 1 });
    pipeline.sourceDir = a.sourceDir;
    const { runId } = await a.coordinator.createRun(pipeline, expandTasks(pipeline, {}), {}, { fakeWorkers: false, noProvision: false });
    await a.coordinator.settled();
    const registered = await a.coordinator.register(aProvider.starts[0]!.registrationToken);
    if (registered.kind !== 'registered') throw new Error('not registered');
    const worker: WorkerIdentity = { workerId: registered.workerId, runId, activity: registered.activity };
    // B starts once A started the worker: on PostgreSQL it would hear the queued task and might start it first.
    b.coordinator.start(urls);
    // Both have taken their place on the store (start() does it in the background).
    await waitForRows(b.store, 2);
    return { clock, a, b, aProvider, bProvider, worker, runId };
  }

  async function waitForRows(store: Awaited<ReturnType<typeof testCoordinator>>['store'], n: number): Promise<void> {
    while ((await store.db.selectFrom('coordinators').select('id').execute()).length < n) await sleep(5);
  }

  it('a worker one of them gives up on has its machine stopped by the one that started it, while that one lives', async () => {
    const { a, b, aProvider, bProvider, worker } = await twoCoordinators();
    try {
      await b.coordinator.loseWorker(worker.workerId, 'lost, as B sees it');
      expect(bProvider.stops).toEqual([]);
      expect(aProvider.stops).toEqual([]);
      // A's health check finds a machine of its own whose worker is no longer live.
      await a.coordinator.healthCheck();
      await a.coordinator.settled();
      expect(aProvider.stops.map((m) => m.worker)).toEqual([worker.workerId]);
      expect(bProvider.stops).toEqual([]);
    } finally {
      for (const c of [a, b]) { await c.coordinator.close(); await c.store.close(); }
    }
  });

  it('once the one that started a machine is gone (its lease ran out), the other stops it', async () => {
    const { clock, a, b, bProvider, worker } = await twoCoordinators();
    try {
      // A dies: it renews its lease no more.
      a.coordinator.onFault(() => undefined);
      await a.store.close();
      clock.advance(60_001);
      await b.coordinator.loseWorker(worker.workerId, 'its coordinator is gone');
      expect(bProvider.stops.map((m) => m.worker)).toEqual([worker.workerId]);
    } finally {
      await b.coordinator.close();
      await b.store.close();
    }
  });
});

describe('a start in flight in another coordinator process', () => {
  let dir: ReturnType<typeof tempDir> | undefined;
  afterEach(() => dir?.remove());

  it('is left to that process while it lives, and given up on at once when it is gone', async () => {
    dir = tempDir();
    const clock = new ManualClock();
    const storePath = join(dir.path, 'slipway.db');
    const urls = { local: 'http://127.0.0.1:1', remote: 'http://127.0.0.1:1' };
    const refusing = new RecordingProvider();
    refusing.failStart = () => new Error('injected: no capacity');
    const a = await testCoordinator(join(dir.path, 'a'), { clock, providers: [refusing], storePath, settings: { providerRetry: { attempts: 6, delayMs: 60_000, backoff: 2, maxDelayMs: 80_000 } } });
    const b = await testCoordinator(join(dir.path, 'b'), { clock, providers: [new RecordingProvider()], storePath });
    a.coordinator.start(urls);
    try {
      const pipeline = pipelineOf([{ name: 'a' }]);
      pipeline.sourceDir = a.sourceDir;
      const { runId } = await a.coordinator.createRun(pipeline, expandTasks(pipeline, {}), {}, { fakeWorkers: false, noProvision: false });
      await a.coordinator.settled();
      // B starts once A took the start: on PostgreSQL it would hear the queued task and might take it first.
      b.coordinator.start(urls);
      while ((await b.store.db.selectFrom('coordinators').select('id').execute()).length < 2) await sleep(5);
      const worker = () => b.store.db.selectFrom('workers').select(['state', 'error']).where('run_id', '=', runId).orderBy('created_at').executeTakeFirstOrThrow();
      // A's first start failed; its retry waits in A's memory. B looks and leaves it be.
      await b.coordinator.healthCheck();
      expect(await worker()).toEqual({ state: 'starting', error: null });

      await a.coordinator.close();
      await b.coordinator.healthCheck();
      expect(await worker()).toEqual({ state: 'lost', error: 'its start was cut short: the coordinator starting it is gone' });
    } finally {
      await b.coordinator.close();
      await b.store.close();
      await a.store.close();
    }
  });
});
