import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.ts';
import type { Coordinator, WorkerIdentity } from '../../src/coordinator/coordinator.ts';
import type { FleetWorker, PoolSummary } from '../../src/engine/fleet-view.ts';
import type { RunReport } from '../../src/engine/report.ts';
import { expandTasks } from '../../src/pipeline/expand.ts';
import type { Store } from '../../src/store/store.ts';
import { createToken } from '../../src/store/tokens.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { ManualClock } from '../helpers/manual-clock.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { RecordingProvider } from '../helpers/protocol.ts';
import { tempDir } from '../helpers/temp.ts';

const succeeded = { outcome: 'succeeded' as const, exitCode: 0, error: null };

/**
 * The fleet as the user API shows it, on a real coordinator and store: two runs of one
 * pipeline share a pool; each worker tells its machine, the attempt in hand and its cost.
 */
describe('GET /api/v1/workers and /api/v1/pools', () => {
  const dir = tempDir();
  // Machines are priced from the coordinator's clock and the API counts to now: the clock starts now.
  const clock = new ManualClock(Date.now());
  const provider = new RecordingProvider();
  let store: Store;
  let coordinator: Coordinator;
  let app: ReturnType<typeof createApp>;
  let secret: string;
  const runs: string[] = [];
  let busy: WorkerIdentity;
  let done: WorkerIdentity;
  let attemptId: string;

  beforeAll(async () => {
    ({ store, coordinator } = await testCoordinator(dir.path, { clock, providers: [provider] }));
    coordinator.start({ local: 'http://127.0.0.1:1', remote: 'http://127.0.0.1:1' });
    app = createApp(coordinator, store.db);
    secret = (await createToken(store.db, 'reader', ['read'], clock.now())).secret;
    // $3.60 an hour, billed by the second with a one-minute minimum.
    provider.handleExtras = { hourly_usd: 3.6, billing: 'per-second' };
    const pipeline = pipelineOf([{ name: 'build', over: ['v'] }], { matrix: { v: ['1', '2', '3'] }, maxWorkers: 2, sourceDir: `${dir.path}/source` });
    const start = async () => {
      const { runId } = await coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: false });
      await coordinator.settled();
      runs.push(runId);
    };
    await start();
    expect(provider.starts).toHaveLength(2);
    const [a, b] = await Promise.all(provider.starts.slice(0, 2).map(async (s) => {
      const registered = await coordinator.register(s.registrationToken);
      if (registered.kind !== 'registered') throw new Error(`not registered: ${registered.kind}`);
      return { workerId: registered.workerId, runId: registered.runId, activity: registered.activity };
    }));
    busy = a!;
    done = b!;
    const taken = await coordinator.claim(busy, 0);
    if (taken.kind !== 'attempt') throw new Error(`no attempt: ${taken.kind}`);
    attemptId = taken.attempt.id;
    const other = await coordinator.claim(done, 0);
    if (other.kind !== 'attempt') throw new Error(`no attempt: ${other.kind}`);
    await coordinator.finish(done, other.attempt.id, succeeded);
    clock.advance(120_000);
    await coordinator.stopped(done, { cause: 'idle', reason: 'idle' });
    // A second run of the same pipeline: its tasks join the same pool's queue.
    await start();
  });

  afterAll(async () => {
    await coordinator.close();
    await store.close();
    dir.remove();
  });

  const get = async <T>(path: string): Promise<T> => {
    const response = await app.request(path, { headers: { authorization: `Bearer ${secret}` } });
    expect(response.status, path).toBe(200);
    return await response.json() as T;
  };

  it('tells each worker\'s pool, machine, the attempt in hand and its cost so far', async () => {
    const { workers } = await get<{ workers: FleetWorker[] }>('/api/v1/workers');
    const byId = new Map(workers.map((w) => [w.id, w]));
    const first = byId.get(busy.workerId)!;
    expect(first).toMatchObject({
      state: 'busy', provider: 'local', machine: 'pid 0', hourly_usd: 3.6,
      current: { run: runs[0], task: 'build[v=1]', attempt: attemptId, number: 1, kind: 'run' },
      // Still running, and under a minute old by the wall clock: the one-minute minimum.
      cost_usd: 0.06,
    });
    expect(Date.parse(first.current!.since)).toBeGreaterThan(0);
    // Stopped after two minutes: what it ran is what it cost, and it holds nothing.
    expect(byId.get(done.workerId)).toMatchObject({ state: 'stopped', current: null, cost_usd: 0.12, machine: 'pid 0' });
    // Every worker of both runs serves the one pool.
    expect(new Set(workers.map((w) => w.pool)).size).toBe(1);
    const pool = first.pool!;
    expect(pool).toMatch(/^p-[0-9a-f]{16}$/);
    const filtered = await get<{ workers: FleetWorker[] }>(`/api/v1/workers?pool=${pool}`);
    expect(filtered.workers.map((w) => w.id).sort()).toEqual(workers.map((w) => w.id).sort());
    expect((await get<{ workers: FleetWorker[] }>('/api/v1/workers?pool=p-0000000000000000')).workers).toEqual([]);
  });

  it('sums each pool now: the runs it serves, live workers of its cap, and the queue across its runs', async () => {
    const { workers } = await get<{ workers: FleetWorker[] }>('/api/v1/workers');
    const { pools } = await get<{ pools: PoolSummary[] }>('/api/v1/pools');
    const builder = pools.find((p) => p.activity === 'builder')!;
    const live = workers.filter((w) => ['starting', 'idle', 'busy', 'draining'].includes(w.state));
    expect(builder).toEqual({
      id: workers[0]!.pool, activity: 'builder', provider: 'local', runs: runs, max_workers: 2, live: live.length,
      // The first run's third task and the second run's three.
      queued: 4,
    });
    // The second run started no worker of its own: it shares the first run's.
    expect(live.every((w) => w.run === runs[0])).toBe(true);
  });

  it('gives each attempt of the run report its worker\'s pool', async () => {
    const { workers } = await get<{ workers: FleetWorker[] }>('/api/v1/workers');
    const report = await get<RunReport>(`/api/v1/runs/${runs[0]}`);
    const attempts = report.tasks.flatMap((t) => t.attempts);
    expect(attempts).toHaveLength(2);
    for (const attempt of attempts) expect(attempt.pool).toBe(workers[0]!.pool);
  });
});
