import { sql } from 'kysely';
import { runSpend } from '../engine/cost.ts';
import { workerCost } from './fleet.ts';
import type { Db } from './store.ts';

const msPerHour = 3_600_000;

/**
 * What a run spent on priced machines up to `now` (see runSpend), running attempts and
 * machines counted up to `now`; null when no priced machine worked for it. Two statements,
 * through the run's attempts and the workers started for it.
 */
export async function spentByRun(db: Db, runId: string, now: number): Promise<number | null> {
  const attempts = await db.selectFrom('attempts').innerJoin('workers', 'workers.id', 'attempts.worker_id')
    .select((eb) => [
      eb.fn.sum<number | string | null>(sql`(coalesce(attempts.finished_at, ${now}) - attempts.started_at) * workers.hourly_usd`).as('usd_ms'),
      eb.fn.countAll<number | string>().as('n'),
    ])
    .where('attempts.run_id', '=', runId).where('workers.hourly_usd', 'is not', null)
    .executeTakeFirstOrThrow();
  const startedFor = await db.selectFrom('workers')
    .select(['hourly_usd', 'billing', 'machine_at', 'stopped_at'])
    .select((eb) => eb.selectFrom('attempts').select((a) => a.fn.sum<number | string | null>(sql`coalesce(attempts.finished_at, ${now}) - attempts.started_at`).as('ms'))
      .whereRef('attempts.worker_id', '=', 'workers.id').as('busy_ms'))
    .where('run_id', '=', runId).where('hourly_usd', 'is not', null)
    .execute();
  if (Number(attempts.n) === 0 && startedFor.length === 0) return null;
  const shares = startedFor.map((worker) => ({
    billedUsd: workerCost(worker, now) ?? 0,
    busyUsd: (Number(worker.busy_ms ?? 0) / msPerHour) * worker.hourly_usd!,
  }));
  return runSpend(Number(attempts.usd_ms ?? 0) / msPerHour, shares);
}

/** The running runs with a budget not yet spent: found through the few running runs. */
export function runsWithBudget(db: Db): Promise<{ id: string; budget_usd: number }[]> {
  return db.selectFrom('runs').select(['id', 'budget_usd'])
    .where('status', '=', 'running').where('budget_usd', 'is not', null).where('budget_spent', 'is', null)
    .$narrowType<{ budget_usd: number }>().execute();
}
