/**
 * Pools belong to the fleet: runs whose activities are alike share workers, within one cap,
 * and a long run cannot starve a short one.
 */
import { describe, expect, it } from 'vitest';
import { runReport } from '../../src/store/run-report.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { protocolHarness } from '../helpers/protocol.ts';

const succeeded = { outcome: 'succeeded' as const, exitCode: 0, error: null };

describe('runs of one pipeline', () => {
  const h = protocolHarness();

  it('share one pool: its cap holds for both, and a worker started for the first serves the second', async () => {
    const first = await h.start(pipelineOf([{ name: 'a' }, { name: 'b' }, { name: 'c' }], { maxWorkers: 2 }));
    const second = await h.start(pipelineOf([{ name: 'a' }, { name: 'b' }, { name: 'c' }], { maxWorkers: 2 }));
    // Six tasks queued in all, two workers at most: not two per run.
    expect(h.provider.starts.map((s) => s.runId)).toEqual([first, first]);

    const w = await h.worker(0);
    const ran: string[] = [];
    for (let attempt = await h.claimAttempt(w); ; ) {
      ran.push(attempt.run);
      const { next } = await h.coordinator.finish(w, attempt.id, succeeded, true);
      if (next?.kind !== 'attempt') break;
      attempt = next.attempt;
    }
    // One worker ran every task of both runs.
    expect(new Set(ran)).toEqual(new Set([first, second]));
    expect(ran).toHaveLength(6);
    for (const runId of [first, second]) expect((await runReport(h.store.db, runId)).run.status).toBe('succeeded');
  });

  it('serve a short run submitted after a long one at the next free worker', async () => {
    const long = await h.start(pipelineOf([{ name: 'many', over: ['n'] }], { maxWorkers: 2, matrix: { n: ['1', '2', '3', '4', '5', '6'] } }));
    const [w1, w2] = [await h.worker(0), await h.worker(1)];
    const [a1, a2] = [await h.claimAttempt(w1), await h.claimAttempt(w2)];
    expect([a1.run, a2.run]).toEqual([long, long]);
    const short = await h.start(pipelineOf([{ name: 'many', over: ['n'] }], { maxWorkers: 2, matrix: { n: ['1'] } }));
    // No new worker: the pool is at its cap; the short run's task waits for the next free one.
    expect(h.provider.starts).toHaveLength(2);
    const { next } = await h.coordinator.finish(w1, a1.id, succeeded, true);
    expect(next?.kind === 'attempt' && next.attempt.run).toBe(short);
  });

  it('keep a pool of their own when their activities differ', async () => {
    await h.start(pipelineOf([{ name: 'a' }], { maxWorkers: 1 }));
    const other = pipelineOf([{ name: 'a' }], { maxWorkers: 1 });
    other.activities.builder!.init = { kind: 'inline', text: 'make deps' };
    await h.start(other);
    expect(h.provider.starts).toHaveLength(2);
  });

  it('start a worker for a rerun queued while the run\'s last worker was still on its way out', async () => {
    const runId = await h.start(pipelineOf([{ name: 'a', retry: { attempts: 1, delayMs: 0, backoff: 1, maxDelayMs: 0 } }], { maxWorkers: 1 }));
    const w = await h.worker(0);
    const attempt = await h.claimAttempt(w);
    // The task fails: the run ends failed, its worker drains (cleanup) and, its credential ended, cannot say it stopped.
    await h.coordinator.finish(w, attempt.id, { outcome: 'failed', exitCode: 3, error: 'exit code 3' });
    expect((await runReport(h.store.db, runId)).run.status).toBe('failed');
    await h.coordinator.rerun(runId);
    await h.coordinator.settled();
    // The draining worker still counts against max_workers 1: no start yet.
    expect(h.provider.starts).toHaveLength(1);
    // Its agent exits: its place is free, and the rerun's task gets a worker at once, not at the next health check.
    h.provider.exit(w.workerId);
    await waitForStarts(2);
    expect(h.provider.starts).toHaveLength(2);
  });

  async function waitForStarts(n: number): Promise<void> {
    for (let i = 0; i < 200 && h.provider.starts.length < n; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      await h.coordinator.settled();
    }
  }
});
