import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Coordinator, CoordinatorSettings, WorkerIdentity } from '../../src/coordinator/coordinator.ts';
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

/** Two coordinators on one store in a fresh directory, as two processes would be, each with its own connections. */
async function twoCoordinators(settings: Partial<CoordinatorSettings>) {
  const dir = tempDir();
  const provider = new RecordingProvider();
  const storePath = join(dir.path, 'shared');
  const made = [await testCoordinator(dir.path, { storePath, providers: [provider], settings }), await testCoordinator(dir.path, { storePath, providers: [provider], settings })];
  const [a, b] = made.map((m) => m.coordinator) as [Coordinator, Coordinator];
  const close = async () => {
    for (const { coordinator, store } of made) {
      await coordinator.close();
      await store.close();
    }
    dir.remove();
  };
  return { dir, provider, made, a, b, close };
}

/**
 * Two coordinator processes' worth of coordinators on one PostgreSQL store, each with its
 * own connections: what one commits reaches the other by the store's notices. Their
 * fallback reads are an hour apart, so only a notice can make these pass.
 */
describe.runIf(testStoreKind === 'postgres')('coordinators on one PostgreSQL store', () => {
  const hour = 3_600_000;
  let dir: ReturnType<typeof tempDir>;
  let provider: RecordingProvider;
  let a: Coordinator;
  let b: Coordinator;
  let close: () => Promise<void>;

  beforeEach(async () => {
    ({ dir, provider, a, b, close } = await twoCoordinators({ storeLookMs: hour }));
    for (const coordinator of [a, b]) coordinator.start({ local: 'http://127.0.0.1:1', remote: 'http://127.0.0.1:1' });
    await Promise.all([a.listening(), b.listening()]);
  });

  afterEach(() => close());

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

describe.runIf(testStoreKind === 'postgres')('claims on one PostgreSQL store', () => {
  let dir: ReturnType<typeof tempDir>;
  let made: { store: Store; coordinator: Coordinator }[];
  let a: Coordinator;
  let b: Coordinator;
  let close: () => Promise<void>;

  // Not started: nothing but the test's own requests writes to the store.
  beforeEach(async () => {
    ({ dir, made, a, b, close } = await twoCoordinators({ heartbeatTimeoutMs: 3 * 3_600_000 }));
  });

  afterEach(() => close());

  /** A run of three builds on coordinator a, and a worker joined to it by hand there. */
  async function runWithWorker(): Promise<{ runId: string; worker: WorkerIdentity; keys: string[] }> {
    const pipeline = pipelineOf([{ name: 'build', over: ['version'] }], { matrix: { version: ['1', '2', '3'] } });
    pipeline.sourceDir = join(dir.path, 'source');
    const { runId, joinToken } = await a.createRun(pipeline, expandTasks(pipeline, {}), {}, { fakeWorkers: false, noProvision: true });
    const registration = await a.register(joinToken, { activity: Object.keys(pipeline.activities)[0]! });
    if (registration.kind !== 'registered') throw new Error(`not registered: ${registration.kind}`);
    const rows = await made[0]!.store.db.selectFrom('tasks').select('key').where('run_id', '=', runId).orderBy('seq').execute();
    return { runId, worker: { workerId: registration.workerId, runId, activity: registration.activity }, keys: rows.map((row) => row.key) };
  }

  it('skip a task another claim holds, without waiting for it', async () => {
    const { runId, worker, keys } = await runWithWorker();
    // As a claim on a third coordinator would: the first task locked, not yet committed.
    await made[0]!.store.db.connection().execute(async (other) => {
      await sql`begin`.execute(other);
      await sql`select key from tasks where run_id = ${runId} and key = ${keys[0]} for update`.execute(other);
      const claimed = await b.claim(worker, 0);
      await sql`rollback`.execute(other);
      expect(claimed).toMatchObject({ kind: 'attempt', attempt: { task: keys[1], number: 1 } });
    });
  });

  it('hand one worker one attempt when it claims on two coordinators at once', async () => {
    const { worker } = await runWithWorker();
    // Each coordinator has heard from the worker: it records that at most once per half heartbeat interval (an hour here).
    for (const coordinator of [a, b]) expect(await coordinator.heartbeat(worker, 'a-000000000000', 0)).toBe('unknown');
    // Nothing else of theirs in flight: a write queued behind the held claims would hold up the others.
    await Promise.all([a.settled(), b.settled()]);
    await made[0]!.store.db.connection().execute(async (other) => {
      // Events held back: a claim that took a task waits before writing its own, uncommitted.
      await sql`begin`.execute(other);
      await sql`select pg_advisory_xact_lock(hashtext('slipway-events:' || current_schema()))`.execute(other);
      const claims = [a.claim(worker, 0), b.claim(worker, 0)];
      // Both hold the store's lock shared, beside each other: one waits to write its event, the other for the worker.
      const waitingClaims = sql<{ n: number }>`
        select count(*)::int as n from pg_locks claim where claim.locktype = 'advisory' and claim.mode = 'ShareLock' and claim.granted
          and exists (select 1 from pg_locks waits where waits.pid = claim.pid and not waits.granted)`;
      await waitFor(async () => (await waitingClaims.execute(other)).rows[0]!.n === 2, 10_000, 'both claims to wait');
      await sql`rollback`.execute(other);
      const [first, second] = await Promise.all(claims);
      if (first!.kind !== 'attempt' || second!.kind !== 'attempt') throw new Error('no attempt');
      expect(second!.attempt.id).toBe(first!.attempt.id);
    });
    const attempts = await made[0]!.store.db.selectFrom('attempts').select('id').where('worker_id', '=', worker.workerId).execute();
    expect(attempts).toHaveLength(1);
  });

  it('do a claim again that PostgreSQL failed to end a deadlock, its events published once', async () => {
    const { runId, worker } = await runWithWorker();
    const published: RunEvent[] = [];
    b.events.subscribe((event) => published.push(event));
    await made[0]!.store.db.connection().execute(async (other) => {
      await sql`begin`.execute(other);
      await sql`select pg_advisory_xact_lock(hashtext('slipway-events:' || current_schema()))`.execute(other);
      const claimed = b.claim(worker, 0);
      // The claim holds the worker and waits for the events; then the other waits for the worker: a deadlock.
      const claimWaits = sql<{ n: number }>`
        select count(*)::int as n from pg_locks claim where claim.locktype = 'advisory' and claim.mode = 'ShareLock' and claim.granted
          and exists (select 1 from pg_locks waits where waits.pid = claim.pid and not waits.granted)`;
      await waitFor(async () => (await claimWaits.execute(other)).rows[0]!.n === 1, 10_000, 'the claim to wait for the events');
      // PostgreSQL fails the claim, which waited first (its check comes first), and this goes on.
      await sql`select id from workers where id = ${worker.workerId} for update`.execute(other);
      await sql`rollback`.execute(other);
      expect(await claimed).toMatchObject({ kind: 'attempt', attempt: { number: 1 } });
    });
    const started = await made[0]!.store.db.selectFrom('events').select('seq').where('run_id', '=', runId).where('kind', '=', 'task.started').execute();
    expect(started).toHaveLength(1);
    expect(published.filter((event) => event.kind === 'task.started').map((event) => event.seq)).toEqual([started[0]!.seq]);
  });
});
