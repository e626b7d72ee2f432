import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Coordinator, WorkerIdentity } from '../../src/coordinator/coordinator.ts';
import type { RunEvent } from '../../src/engine/events.ts';
import { expandTasks } from '../../src/pipeline/expand.ts';
import type { Pipeline } from '../../src/pipeline/types.ts';
import type { Store } from '../../src/store/store.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { waitFor } from '../helpers/processes.ts';
import { RecordingProvider } from '../helpers/protocol.ts';
import { tempDir } from '../helpers/temp.ts';
import { testStoreKind } from '../helpers/test-store.ts';

/**
 * Two coordinator processes' worth of coordinators on one PostgreSQL store, each with its
 * own connections: what one commits reaches the other by the store's notices. Their
 * fallback reads are an hour apart, so only a notice can make these pass.
 */
describe.runIf(testStoreKind === 'postgres')('coordinators on one PostgreSQL store', () => {
  const hour = 3_600_000;
  let dir: ReturnType<typeof tempDir>;
  let provider: RecordingProvider;
  let made: { store: Store; coordinator: Coordinator }[];
  let a: Coordinator;
  let b: Coordinator;

  beforeEach(async () => {
    dir = tempDir();
    provider = new RecordingProvider();
    const storePath = join(dir.path, 'shared');
    made = [
      await testCoordinator(dir.path, { storePath, providers: [provider], settings: { storeLookMs: hour } }),
      await testCoordinator(dir.path, { storePath, providers: [provider], settings: { storeLookMs: hour } }),
    ];
    [a, b] = made.map((m) => m.coordinator) as [Coordinator, Coordinator];
    for (const { coordinator } of made) coordinator.start({ local: 'http://127.0.0.1:1', remote: 'http://127.0.0.1:1' });
    await Promise.all([a.listening(), b.listening()]);
  });

  afterEach(async () => {
    for (const { coordinator, store } of made) {
      await coordinator.close();
      await store.close();
    }
    dir.remove();
  });

  async function startOn(coordinator: Coordinator, pipeline: Pipeline): Promise<string> {
    pipeline.sourceDir = join(dir.path, 'source');
    const { runId } = await coordinator.createRun(pipeline, expandTasks(pipeline, {}), {}, { fakeWorkers: false, noProvision: false });
    await coordinator.settled();
    return runId;
  }

  async function registered(coordinator: Coordinator, index: number): Promise<WorkerIdentity> {
    const registration = await coordinator.register(provider.starts[index]!.registrationToken);
    if (registration.kind !== 'registered') throw new Error(`not registered: ${registration.kind}`);
    return { workerId: registration.workerId, runId: registration.runId, activity: registration.activity };
  }

  it("publish on one coordinator's bus the events another commits for a run it follows", async () => {
    const runId = await startOn(b, pipelineOf([{ name: 'build' }]));
    const heard: RunEvent[] = [];
    const made: RunEvent[] = [];
    a.events.subscribe((event) => heard.push(event));
    b.events.subscribe((event) => made.push(event));
    const unfollow = await a.follow(runId);
    const finished = new Promise<RunEvent>((resolve) => a.events.subscribe((event) => event.kind === 'run.finished' && resolve(event)));
    await b.cancelRun(runId, 'cancelled through the other coordinator');
    expect(await finished).toMatchObject({ run: runId, kind: 'run.finished' });
    expect(heard.map((event) => event.kind)).toContain('task.cancelled');
    // Each once, numbered as the store numbers them (the numbers a browser resumes from).
    expect(heard).toEqual(made);
    expect(made.every((event, i) => Number.isInteger(event.seq) && (i === 0 || event.seq > made[i - 1]!.seq))).toBe(true);
    unfollow();
  });

  it('wake a claim waiting on one coordinator when a task is queued through another', async () => {
    const matrix = { version: ['1', '2'] };
    await startOn(b, pipelineOf([{ name: 'build', over: ['version'] }, { name: 'test', needs: ['build'] }], { matrix, maxWorkers: 2 }));
    // Both coordinators hear of the queued tasks and provision from the store: two workers, not four.
    await waitFor(() => provider.starts.length >= 2, 10_000, 'two workers to be started');
    await Promise.all([a.settled(), b.settled()]);
    expect(provider.starts).toHaveLength(2);
    // One worker talks to each coordinator.
    const [onB, onA] = [await registered(b, 0), await registered(a, 1)];
    const first = await b.claim(onB, 0);
    const second = await a.claim(onA, 0);
    if (first.kind !== 'attempt' || second.kind !== 'attempt') throw new Error('no build attempts');
    await a.finish(onA, second.attempt.id, { outcome: 'succeeded', exitCode: 0, error: null });
    // Nothing is claimable until the other build ends: the worker waits on its coordinator.
    const waiting = a.claim(onA, hour);
    await waitFor(() => a.claimsWaiting === 1, 10_000, 'the claim to wait');
    await b.finish(onB, first.attempt.id, { outcome: 'succeeded', exitCode: 0, error: null });
    expect(await waiting).toMatchObject({ kind: 'attempt', attempt: { task: 'test', number: 1 } });
  });
});
