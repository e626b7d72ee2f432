import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { Changes } from '../../src/coordinator/changes.ts';
import { claim } from '../../src/coordinator/ops/claim.ts';
import { RunSpecs } from '../../src/coordinator/run-specs.ts';
import type { Db } from '../../src/store/store.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { protocolHarness } from '../helpers/protocol.ts';
import { testStoreKind } from '../helpers/test-store.ts';

/** Rows of `tasks` this transaction has read so far, by scans of the table or of its indexes. */
async function taskRowsRead(trx: Db): Promise<number> {
  const { rows } = await sql<{ n: string }>`
    select coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) as n
    from pg_stat_xact_user_tables where relid = 'tasks'::regclass`.execute(trx);
  return Number(rows[0]?.n ?? 0);
}

class Undone extends Error {}

// PostgreSQL plans a claim from statistics that, moments after a run was created, still
// describe the table before its tasks were inserted: a plan that reads all of them on every
// claim costs O(n) per claim, O(n^2) per run. SQLite has no hash joins; its plans are
// checked by scripts/check-queries.ts.
describe.runIf(testStoreKind === 'postgres')('a claim on PostgreSQL', () => {
  const h = protocolHarness();

  it('reads a handful of task rows, not every claimable task of its run', async () => {
    const size = 3000;
    const values = Array.from({ length: size }, (_, i) => String(i));
    await h.start(pipelineOf([{ name: 'build', over: ['n'] }], { matrix: { n: values }, maxWorkers: 1 }));
    const worker = await h.worker(0);
    const specs = new RunSpecs();
    let read = -1;
    // Measured inside one transaction, whose own counts PostgreSQL shows at once, then undone.
    await h.store.transaction(async (trx) => {
      const before = await taskRowsRead(trx);
      const answer = await claim(trx, (runId) => specs.get(trx, runId), worker.workerId, new Changes(h.clock.now()));
      expect(answer.kind).toBe('attempt');
      read = (await taskRowsRead(trx)) - before;
      throw new Undone();
    }).catch((error: unknown) => {
      if (!(error instanceof Undone)) throw error;
    });
    expect(read).toBeGreaterThan(0);
    expect(read).toBeLessThan(20);
    // The claim was undone: the run's first task is still there for the worker.
    const attempt = await h.claimAttempt(worker);
    expect(attempt.task).toBe('build[n=0]');
  });
});
