import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Coordinator, type ClaimAnswer, type WorkerIdentity } from '../../src/coordinator/coordinator.ts';
import type { Step } from '../../src/pipeline/types.ts';
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
 * A coordinator on a real store whose transactions are counted, with no provider: workers
 * join runs by hand. Call inside a describe().
 */
function countedCoordinator() {
  const h = { transactions: 0 } as { dir: ReturnType<typeof tempDir>; store: Store; coordinator: Coordinator; transactions: number };

  beforeEach(async () => {
    h.dir = tempDir();
    const opened = await openTestStore(join(h.dir.path, 'db'));
    h.store = { ...opened, transaction: (work, mode) => { h.transactions += 1; return opened.transaction(work, mode); } };
    h.coordinator = new Coordinator(h.store, new ManualClock(), {
      stateDir: h.dir.path, heartbeatTimeoutMs: 60_000, healthIntervalMs: 3_600_000, startTimeoutMs: 120_000,
      providerRetry: { attempts: 1, delayMs: 0, backoff: 1, maxDelayMs: 0 },
    }, []);
    h.coordinator.start({ local: 'http://127.0.0.1:1', remote: 'http://127.0.0.1:1' });
  });

  afterEach(async () => {
    await h.coordinator.close();
    await h.store.close();
    h.dir.remove();
  });

  /** Starts a run of `steps` (on `builder` unless they say), with `workers` joined to it by hand, per activity. */
  async function run<A extends string>(steps: Partial<Step>[], workers: Record<A, number>): Promise<Record<A, WorkerIdentity[]>> {
    // Apart from the coordinator's state, which it writes while it packs the tree.
    const sourceDir = join(h.dir.path, 'source');
    mkdirSync(sourceDir, { recursive: true });
    writeFileSync(join(sourceDir, 'README'), 'source tree\n');
    const pipeline = pipelineOf(steps, { sourceDir });
    const { joinToken } = await h.coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: true });
    const joined = {} as Record<A, WorkerIdentity[]>;
    for (const [activity, count] of Object.entries(workers) as [A, number][]) {
      joined[activity] = [];
      for (let i = 0; i < count; i++) {
        const registration = await h.coordinator.register(joinToken, { activity });
        if (registration.kind !== 'registered') throw new Error(`not registered: ${registration.kind}`);
        joined[activity].push({ workerId: registration.workerId, runId: registration.runId, activity });
      }
    }
    return joined;
  }

  /** Claims and insists on an attempt. */
  async function attempt(answer: Promise<ClaimAnswer> | ClaimAnswer) {
    const claimed = await answer;
    if (claimed.kind !== 'attempt') throw new Error(`no attempt: ${claimed.kind}`);
    return claimed.attempt;
  }

  return Object.assign(h, { run, attempt });
}

/**
 * A worker waiting in a long poll is handed a task of its pool by the transaction that
 * queued it: one commit, where a wake-up and a claim of its own would take a second.
 */
describe('a task queued while a worker of its pool waits for one', () => {
  const h = countedCoordinator();

  /** A build on `builder`, then a test on `control` that needs it. */
  async function buildThenTest(testers: number) {
    const joined = await h.run([{ name: 'build' }, { name: 'test', activity: 'control', needs: ['build'] }], { builder: 1, control: testers });
    const builder = joined.builder[0]!;
    return { builder, testers: joined.control, build: await h.attempt(h.coordinator.claim(builder, 0)) };
  }

  it('reaches that worker with the commit that queued it', async () => {
    const { builder, testers: [tester], build } = await buildThenTest(1);
    const waiting = h.coordinator.claim(tester!, hour);
    await waitFor(() => h.coordinator.claimsWaiting === 1, 10_000, 'the tester to wait');
    h.transactions = 0;
    await h.coordinator.finish(builder, build.id, succeeded, true);
    expect(await waiting).toMatchObject({ kind: 'attempt', attempt: { task: 'test', number: 1 } });
    expect(h.transactions).toBe(1);
  });

  it('reaches every worker of the pool waiting, each with a task of its own, with that one commit', async () => {
    const tests = ['unit', 'lint', 'docs'].map((name) => ({ name, activity: 'control', needs: ['build'] }));
    const { builder: [builder], control: testers } = await h.run([{ name: 'build' }, ...tests], { builder: 1, control: 3 });
    const build = await h.attempt(h.coordinator.claim(builder!, 0));
    const answers = testers.map((tester) => h.attempt(h.coordinator.claim(tester, hour)));
    await waitFor(() => h.coordinator.claimsWaiting === 3, 10_000, 'the testers to wait');
    h.transactions = 0;
    await h.coordinator.finish(builder!, build.id, succeeded, true);
    expect((await Promise.all(answers)).map((attempt) => attempt.task).sort()).toEqual(['docs', 'lint', 'unit']);
    expect(h.transactions).toBe(1);
  });

  it('leaves the other waiting workers waiting, not woken to find nothing', async () => {
    const { builder, testers, build } = await buildThenTest(2);
    const stop = new AbortController();
    const answers = testers.map((tester) => h.coordinator.claim(tester, hour, stop.signal));
    await waitFor(() => h.coordinator.claimsWaiting === 2, 10_000, 'both testers to wait');
    h.transactions = 0;
    await h.coordinator.finish(builder, build.id, succeeded, true);
    expect(await Promise.race(answers)).toMatchObject({ kind: 'attempt', attempt: { task: 'test' } });
    // The other one is still (or again) waiting, and claimed nothing in between.
    await waitFor(() => h.coordinator.claimsWaiting === 1 && h.coordinator.quiet, 10_000, 'the other tester to wait');
    expect(h.transactions).toBe(1);
    stop.abort();
    await Promise.all(answers);
  });
});

describe('a finish that asks for the next attempt and finds none', () => {
  const h = countedCoordinator();

  it('waits in the same call, as a claim does, and answers with the task queued for its worker meanwhile', async () => {
    const { builder: [builder], control: [tester] } = await h.run(
      [{ name: 'build' }, { name: 'test', activity: 'control', needs: ['build'] }, { name: 'ship', needs: ['test'] }], { builder: 1, control: 1 });
    const build = await h.attempt(h.coordinator.claim(builder!, 0));
    const testing = h.coordinator.claim(tester!, hour);
    await waitFor(() => h.coordinator.claimsWaiting === 1, 10_000, 'the tester to wait');
    // Nothing is ready for the builder (ship needs the test): its finish waits.
    const finishing = h.coordinator.finish(builder!, build.id, succeeded, { waitMs: hour });
    const test = await h.attempt(testing);
    expect(test.task).toBe('test');
    await waitFor(() => h.coordinator.claimsWaiting === 1, 10_000, 'the builder to wait in its finish');
    h.transactions = 0;
    await h.coordinator.finish(tester!, test.id, succeeded);
    expect(await finishing).toMatchObject({ finished: { kind: 'recorded' }, next: { kind: 'attempt', attempt: { task: 'ship' } } });
    expect(h.transactions).toBe(1);
  });
});
