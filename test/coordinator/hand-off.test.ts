import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Coordinator, type WorkerIdentity } from '../../src/coordinator/coordinator.ts';
import { expandTasks } from '../../src/pipeline/expand.ts';
import type { Store } from '../../src/store/store.ts';
import { ManualClock } from '../helpers/manual-clock.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { waitFor } from '../helpers/processes.ts';
import { tempDir } from '../helpers/temp.ts';
import { openTestStore } from '../helpers/test-store.ts';

const hour = 3_600_000;
const succeeded = { outcome: 'succeeded' as const, exitCode: 0, error: null };

/**
 * A worker waiting in a long poll is handed a task of its pool by the transaction that
 * queued it: one commit, where a wake-up and a claim of its own would take a second.
 */
describe('a task queued while a worker of its pool waits for one', () => {
  let dir: ReturnType<typeof tempDir>;
  let store: Store;
  let coordinator: Coordinator;
  /** Transactions begun on the store, by every operation of the coordinator. */
  let transactions = 0;

  beforeEach(async () => {
    dir = tempDir();
    const opened = await openTestStore(join(dir.path, 'db'));
    store = { ...opened, transaction: (work, mode) => { transactions += 1; return opened.transaction(work, mode); } };
    coordinator = new Coordinator(store, new ManualClock(), {
      stateDir: dir.path, heartbeatTimeoutMs: 60_000, healthIntervalMs: 3_600_000, startTimeoutMs: 120_000,
      providerRetry: { attempts: 1, delayMs: 0, backoff: 1, maxDelayMs: 0 },
    }, []);
    coordinator.start({ local: 'http://127.0.0.1:1', remote: 'http://127.0.0.1:1' });
  });

  afterEach(async () => {
    await coordinator.close();
    await store.close();
    dir.remove();
  });

  /** A build on `builder`, then a test on `control` that needs it, and workers joined by hand to each. */
  async function buildThenTest(controlWorkers: number) {
    const pipeline = pipelineOf([{ name: 'build' }, { name: 'test', activity: 'control', needs: ['build'] }], { sourceDir: dir.path });
    const { joinToken } = await coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: true });
    const join = async (activity: string): Promise<WorkerIdentity> => {
      const registration = await coordinator.register(joinToken, { activity });
      if (registration.kind !== 'registered') throw new Error(`not registered: ${registration.kind}`);
      return { workerId: registration.workerId, runId: registration.runId, activity };
    };
    const builder = await join('builder');
    const testers = await Promise.all(Array.from({ length: controlWorkers }, () => join('control')));
    const build = await coordinator.claim(builder, 0);
    if (build.kind !== 'attempt') throw new Error(`no build: ${build.kind}`);
    return { builder, testers, build: build.attempt };
  }

  it('reaches that worker with the commit that queued it', async () => {
    const { builder, testers: [tester], build } = await buildThenTest(1);
    const waiting = coordinator.claim(tester!, hour);
    await waitFor(() => coordinator.claimsWaiting === 1, 10_000, 'the tester to wait');
    transactions = 0;
    await coordinator.finish(builder, build.id, succeeded, true);
    expect(await waiting).toMatchObject({ kind: 'attempt', attempt: { task: 'test', number: 1 } });
    expect(transactions).toBe(1);
  });

  it('leaves the other waiting workers waiting, not woken to find nothing', async () => {
    const { builder, testers, build } = await buildThenTest(2);
    const stop = new AbortController();
    const answers = testers.map((tester) => coordinator.claim(tester, hour, stop.signal));
    await waitFor(() => coordinator.claimsWaiting === 2, 10_000, 'both testers to wait');
    transactions = 0;
    await coordinator.finish(builder, build.id, succeeded, true);
    const handed = await Promise.race(answers);
    expect(handed).toMatchObject({ kind: 'attempt', attempt: { task: 'test' } });
    // The other one is still (or again) waiting, and claimed nothing in between.
    await waitFor(() => coordinator.claimsWaiting === 1 && coordinator.quiet, 10_000, 'the other tester to wait');
    expect(transactions).toBe(1);
    stop.abort();
    await Promise.all(answers);
  });
});
