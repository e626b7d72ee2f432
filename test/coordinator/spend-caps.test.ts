/**
 * Spend caps: a pool's max_hourly_usd holds new workers back (saying so in the run, once),
 * and a run's budget stops new tasks once spent: running ones finish, no retry follows, the
 * run fails saying why.
 */
import { describe, expect, it } from 'vitest';
import { activityFromPool } from '../../src/pipeline/assemble.ts';
import type { OperatorPool, Pipeline } from '../../src/pipeline/types.ts';
import { runReport } from '../../src/store/run-report.ts';
import { spentByRun } from '../../src/store/run-spend.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { protocolHarness } from '../helpers/protocol.ts';

const succeeded = { outcome: 'succeeded' as const, exitCode: 0, error: null };
const failed = { outcome: 'failed' as const, exitCode: 1, error: 'exit code 1' };

const values = (n: number) => Array.from({ length: n }, (_, i) => String(i));

function naming(pool: string, settings: OperatorPool, tasks: number): Pipeline {
  const pipeline = pipelineOf([{ name: 'work', over: ['n'] }], { matrix: { n: values(tasks) } });
  pipeline.activities.builder = activityFromPool('builder', pool, settings);
  return pipeline;
}

describe("a pool's max_hourly_usd", () => {
  const pools = {
    linux: { provider: 'local', maxWorkers: 10, maxHourlyUsd: 2, minIdle: 0, idleTimeoutMs: 60_000 } satisfies OperatorPool,
    shared: { provider: 'local', maxWorkers: 1, minIdle: 0, idleTimeoutMs: 60_000 } satisfies OperatorPool,
  };
  const h = protocolHarness({ pools });

  it('starts no more machines than it pays for, and tells the waiting run once', async () => {
    h.provider.handleExtras = { hourly_usd: 0.5, billing: 'per-second' };
    const run = await h.start(naming('linux', pools.linux, 6));
    // $2.00 an hour buys four machines at $0.50.
    expect(h.provider.starts).toHaveLength(4);
    await h.coordinator.healthCheck();
    await h.coordinator.settled();
    expect(h.provider.starts).toHaveLength(4);
    const told = h.events.filter((e) => e.kind === 'run.capped');
    expect(told).toHaveLength(1);
    expect(told[0]!.run).toBe(run);
    expect(told[0]!.message).toMatch(/^activity builder: new workers wait: the pool's max_hourly_usd \(\$2\.00\/h\) pays for 4 machines at \$0\.50\/h; /);
    expect((await runReport(h.store.db, run)).run.spend_cap).toBe(told[0]!.message);
  });

  it('fails the tasks at once when one machine costs more than the cap', async () => {
    h.provider.handleExtras = { hourly_usd: 3, billing: 'per-second' };
    const run = await h.start(naming('linux', pools.linux, 2));
    expect(h.provider.starts).toHaveLength(0);
    const report = await runReport(h.store.db, run);
    expect(report.run.status).toBe('failed');
    expect(report.failures.map((f) => f.error)).toEqual([
      "activity builder: one machine costs $3.00/h, more than the pool's max_hourly_usd ($2.00/h)",
      "activity builder: one machine costs $3.00/h, more than the pool's max_hourly_usd ($2.00/h)",
    ]);
  });

  it('holds nothing back on machines without a price', async () => {
    await h.start(naming('linux', pools.linux, 6));
    expect(h.provider.starts).toHaveLength(6);
    expect(h.events.filter((e) => e.kind === 'run.capped')).toEqual([]);
  });

  it("charges each run sharing a worker its attempts' time, and the rest of the bill to the run that started it", async () => {
    // A cent a second, a minute's minimum.
    h.provider.handleExtras = { hourly_usd: 36, billing: 'per-second' };
    const first = await h.start(naming('shared', pools.shared, 1));
    h.clock.advance(1);
    const second = await h.start(naming('shared', pools.shared, 1));
    const w = await h.worker(0);
    const own = await h.claimAttempt(w);
    h.clock.advance(30_000);
    const { next } = await h.coordinator.finish(w, own.id, succeeded, true);
    if (next?.kind !== 'attempt') throw new Error(`no attempt of the second run: ${next?.kind}`);
    expect(next.attempt.run).toBe(second);
    h.clock.advance(20_000);
    await h.coordinator.finish(w, next.attempt.id, succeeded);
    const cost = (run: string) => spentByRun(h.store.db, run, h.clock.now());
    // The minute billed so far is $0.60: 20 s of it the second run's, the other 40 s the first's.
    expect(await cost(second)).toBeCloseTo(0.2, 4);
    expect(await cost(first)).toBeCloseTo(0.4, 4);
  });
});

describe("a run's budget", () => {
  const h = protocolHarness();

  /** Three tasks on one worker at $3.60 an hour (a cent a second, a minute's minimum: $0.60 once started). */
  async function budgeted(budgetUsd: number) {
    h.provider.handleExtras = { hourly_usd: 36, billing: 'per-second' };
    const pipeline = pipelineOf([{ name: 'work', over: ['n'] }], { matrix: { n: values(3) }, maxWorkers: 1 });
    pipeline.budgetUsd = budgetUsd;
    const run = await h.start(pipeline);
    const w = await h.worker(0);
    return { run, w, running: await h.claimAttempt(w) };
  }

  it('stops new tasks once spent: the running one finishes and counts, the others fail saying why', async () => {
    const { run, w, running } = await budgeted(1);
    await h.coordinator.checkLiveness();
    expect(h.events.filter((e) => e.kind === 'run.capped')).toEqual([]);
    // 40 s past the minute's minimum: $0.60 + $0.40 is the budget. The worker stays heard from.
    for (let s = 0; s < 100; s += 20) {
      h.clock.advance(20_000);
      expect(await h.coordinator.heartbeat(w, running.id, 0)).toBe('ok');
    }
    await h.coordinator.checkLiveness();
    const why = "the run's budget of $1.00 is spent ($1.00 on machines so far): no new task starts; running ones finish";
    expect(h.events.filter((e) => e.kind === 'run.capped').map((e) => e.message)).toEqual([why]);
    expect(await h.statuses(run)).toEqual({ 'work[n=0]': 'running', 'work[n=1]': 'failed', 'work[n=2]': 'failed' });

    const { next } = await h.coordinator.finish(w, running.id, succeeded, true);
    expect(next?.kind).not.toBe('attempt');
    const report = await runReport(h.store.db, run);
    expect(report.run).toMatchObject({ status: 'failed', budget_usd: 1, spend_cap: why });
    expect(report.tasks.map((t) => t.status)).toEqual(['succeeded', 'failed', 'failed']);
    expect(report.failures.map((f) => f.error)).toEqual([`not started: ${why}`, `not started: ${why}`]);
    // A second look finds it stopped already: said once.
    await h.coordinator.checkLiveness();
    expect(h.events.filter((e) => e.kind === 'run.capped')).toHaveLength(1);
    // Its budget stays spent: a rerun would be stopped at once, so it is refused, saying why.
    expect(await h.coordinator.rerun(run)).toEqual({ kind: 'refused', reason: `run ${run} stopped at its budget (${why}): start a new run, with a larger --budget` });
  });

  it('lets no retry follow a failure once spent', async () => {
    const { run, w, running } = await budgeted(0.5);
    await h.coordinator.checkLiveness();
    await h.coordinator.finish(w, running.id, failed, true);
    const report = await runReport(h.store.db, run);
    expect(report.run.status).toBe('failed');
    expect(report.tasks[0]!.attempts).toHaveLength(1);
    expect(report.failures[0]!.error).toBe("exit code 1; no retry: the run's budget of $0.50 is spent ($0.60 on machines so far): no new task starts; running ones finish");
  });
});
