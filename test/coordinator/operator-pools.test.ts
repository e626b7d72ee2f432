/**
 * The operator's pools (`[pools.NAME]`): shared by every run that names them whatever the
 * pipeline, under the config's cap and the provider's fleet-wide cap, and kept warm.
 */
import { describe, expect, it } from 'vitest';
import { RunRefused } from '../../src/coordinator/coordinator.ts';
import { activityFromPool } from '../../src/pipeline/assemble.ts';
import { expandTasks } from '../../src/pipeline/expand.ts';
import type { OperatorPool, Pipeline } from '../../src/pipeline/types.ts';
import { logText } from '../helpers/log-text.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { protocolHarness } from '../helpers/protocol.ts';

const succeeded = { outcome: 'succeeded' as const, exitCode: 0, error: null };

/** A pipeline whose `builder` activity names the operator's pool `name`, with `tasks` tasks. */
function naming(name: string, pool: OperatorPool, tasks: number, pipelineName = 'test'): Pipeline {
  const pipeline = pipelineOf([{ name: 'work', over: ['n'] }], { matrix: { n: Array.from({ length: tasks }, (_, i) => String(i)) } });
  pipeline.name = pipelineName;
  pipeline.activities.builder = activityFromPool('builder', name, pool);
  return pipeline;
}

const local = (fields: Partial<OperatorPool> = {}): OperatorPool => ({ provider: 'local', maxWorkers: 2, minIdle: 0, idleTimeoutMs: 60_000, ...fields });

describe("an operator's pool", () => {
  const pools = { linux: local({ maxWorkers: 2 }) };
  const h = protocolHarness({ pools });

  it('is one pool for every run that names it, whatever the pipeline, under the config\'s cap', async () => {
    const first = await h.start(naming('linux', pools.linux, 3, 'packages'));
    const second = await h.start(naming('linux', pools.linux, 2, 'docs'));
    const rows = await h.store.db.selectFrom('run_pools').select(['run_id', 'pool_id']).where('activity', '=', 'builder').execute();
    expect(rows.map((r) => r.pool_id)).toEqual(['pool:linux', 'pool:linux']);
    // Five tasks in all, two workers at most, both for the older run.
    expect(h.provider.starts.map((s) => s.runId)).toEqual([first, first]);

    const w = await h.worker(0);
    const ran = new Set<string>();
    for (let attempt = await h.claimAttempt(w); ;) {
      ran.add(attempt.run);
      const { next } = await h.coordinator.finish(w, attempt.id, succeeded, true);
      if (next?.kind !== 'attempt') break;
      attempt = next.attempt;
    }
    expect(ran).toEqual(new Set([first, second]));
    // Its workers outlive the runs: not told to stop, their credentials still good.
    const still = await h.store.db.selectFrom('workers').select('state').where('id', '=', w.workerId).executeTakeFirstOrThrow();
    expect(still.state).toBe('idle');
  });

  it('lets an idle worker past its idle_timeout stop when the pool keeps none warm', async () => {
    await h.start(naming('linux', pools.linux, 1));
    const w = await h.worker(0);
    const attempt = await h.claimAttempt(w);
    await h.coordinator.finish(w, attempt.id, succeeded);
    expect(await h.coordinator.claim(w, 0, undefined, true)).toMatchObject({ kind: 'stop' });
  });
});

describe("a provider's fleet-wide cap", () => {
  const pools = { a: local({ maxWorkers: 2 }), b: local({ maxWorkers: 2 }) };
  const h = protocolHarness({ pools, providerCaps: { local: 3 } });

  const poolLog = (pool: string) => logText(h.coordinator.logs, h.coordinator.logs.poolPath(pool));

  it('holds across two pools, says so once in the held pool\'s log, and lets it start when a worker on the provider stops', async () => {
    const runA = await h.start(naming('a', pools.a, 2));
    const runB = await h.start(naming('b', pools.b, 2));
    // Pool a took two, pool b the one left of the provider's three.
    expect(h.provider.starts.map((s) => s.runId)).toEqual([runA, runA, runB]);

    // Pokes while held (a health check, more work) start nothing and say nothing more.
    await h.coordinator.healthCheck();
    await h.coordinator.settled();
    expect(h.provider.starts).toHaveLength(3);
    const log = await poolLog('pool:b');
    expect(log.match(/held: the local provider's max_workers \(3\) are all live/g)).toHaveLength(1);
    expect(log).toContain(`activity builder of run ${runB} waits`);
    expect(await poolLog('pool:a')).toBe('');

    // A worker of pool a stops: pool b gets its second worker at once.
    const w = await h.worker(0);
    const attempt = await h.claimAttempt(w);
    await h.coordinator.finish(w, attempt.id, succeeded);
    await h.coordinator.stopped(w, { cause: 'idle', reason: 'idle' });
    await h.coordinator.settled();
    expect(h.provider.starts.map((s) => s.runId)).toEqual([runA, runA, runB, runB]);
    expect(await poolLog('pool:b')).toContain('no longer held');
  });
});

describe('min_idle', () => {
  const pools = { warm: local({ maxWorkers: 3, minIdle: 1 }) };
  const h = protocolHarness({ pools });

  it('keeps a worker warm after the runs end, and starts one again when it goes, with nothing queued', async () => {
    // No run has named the pool yet: a warm worker would have no run to start in.
    await h.coordinator.healthCheck();
    await h.coordinator.settled();
    expect(h.provider.starts).toHaveLength(0);

    const run = await h.start(naming('warm', pools.warm, 2));
    expect(h.provider.starts).toHaveLength(2);
    const [w0, w1] = [await h.worker(0), await h.worker(1)];
    for (const w of [w0, w1]) await h.coordinator.finish(w, (await h.claimAttempt(w)).id, succeeded);
    expect((await h.statuses(run))['work[n=0]']).toBe('succeeded');

    // Both idle past their idle_timeout: the first to ask stops, the last stays warm.
    expect(await h.coordinator.claim(w0, 0, undefined, true)).toMatchObject({ kind: 'stop' });
    expect(await h.coordinator.claim(w1, 0, undefined, true)).toEqual({ kind: 'none' });
    expect(await h.coordinator.claim(w1, 0, undefined, true)).toEqual({ kind: 'none' });
    await h.coordinator.stopped(w0, { cause: 'idle', reason: 'idle' });

    // The health check sees the one it keeps: no start.
    await h.coordinator.healthCheck();
    await h.coordinator.settled();
    expect(h.provider.starts).toHaveLength(2);

    // The warm worker goes: the health check starts another, for the (finished) run, with nothing queued.
    await h.coordinator.loseWorker(w1.workerId, 'its machine is gone');
    await h.coordinator.settled();
    await h.coordinator.healthCheck();
    await h.coordinator.settled();
    expect(h.provider.starts.map((s) => s.runId)).toEqual([run, run, run]);
    const warm = await h.worker(2);
    expect(await h.coordinator.claim(warm, 0, undefined, true)).toEqual({ kind: 'none' });
  });

  it('tells the workers of a pool that keeps some warm to ask before their idle stop', async () => {
    await h.start(naming('warm', pools.warm, 1));
    const registration = await h.coordinator.register(h.provider.starts[0]!.registrationToken);
    expect(registration.kind === 'registered' && registration.settings.keep_warm).toBe(true);
  });
});

describe('a server whose pipelines may not define pools', () => {
  const pools = { linux: local() };
  const h = protocolHarness({ pools, pipelinesMayDefinePools: false });

  it('refuses a run with an activity of its own, whatever checked its file', async () => {
    const own = pipelineOf([{ name: 'a' }]);
    await expect(h.coordinator.createRun(own, expandTasks(own, {}), {}, { fakeWorkers: false, noProvision: false })).rejects.toThrow(RunRefused);
    await expect(h.start(naming('linux', pools.linux, 1))).resolves.toMatch(/^r-/);
  });
});

describe('an operator\'s pool with min_idle = "auto"', () => {
  const pools = { linux: local({ maxWorkers: 5, minIdle: 'auto', idleTimeoutMs: 60_000 }) };
  const h = protocolHarness({ pools });

  it('keeps as many idle as tasks came within one boot time, and lets them go once that load is an hour old', async () => {
    await h.start(naming('linux', pools.linux, 3));
    expect(h.provider.starts).toHaveLength(3);
    // The machines take 10 s to come up, and the three tasks start together.
    h.clock.advance(10_000);
    const workers = [await h.worker(0), await h.worker(1), await h.worker(2)];
    for (const w of workers) {
      const attempt = await h.claimAttempt(w);
      await h.coordinator.finish(w, attempt.id, succeeded);
    }
    // Past their idle_timeout: three tasks came within one boot, so the pool keeps three.
    h.clock.advance(61_000);
    expect(await h.coordinator.claim(workers[0]!, 0, undefined, true)).toEqual({ kind: 'none' });
    expect(await logText(h.coordinator.logs, h.coordinator.logs.workerPath(workers[0]!.runId, workers[0]!.workerId))).toContain('kept warm: its pool keeps 3 idle');
    // An hour on, that load no longer counts: none is kept, and each may go.
    h.clock.advance(3_600_000);
    expect(await h.coordinator.claim(workers[0]!, 0, undefined, true)).toMatchObject({ kind: 'stop', reason: 'idle for its idle_timeout, and its pool keeps none warm now' });
  });
});
