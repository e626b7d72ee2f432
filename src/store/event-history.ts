import type { RunEvent } from '../engine/events.ts';
import { eventFromRow } from './event-rows.ts';
import type { Db } from './store.ts';

/**
 * The sequence number of the last event of a run, or of the whole store without one; 0
 * when there is none. A follower resumes after it and misses nothing written later.
 */
export async function lastEventSeq(db: Db, runId?: string): Promise<number> {
  let query = db.selectFrom('events').select((eb) => eb.fn.max('seq').as('seq'));
  if (runId !== undefined) query = query.where('run_id', '=', runId);
  return Number((await query.executeTakeFirst())?.seq ?? 0);
}

/**
 * The events after `afterSeq`, of one run or of all, oldest first and at most `limit`:
 * what a stream that resumes or follows a run sends before the live ones.
 */
export async function eventsAfter(db: Db, afterSeq: number, filter: { run?: string; limit: number }): Promise<RunEvent[]> {
  let query = db.selectFrom('events').selectAll().where('seq', '>', afterSeq).orderBy('seq').limit(filter.limit);
  if (filter.run !== undefined) query = query.where('run_id', '=', filter.run);
  return (await query.execute()).map(eventFromRow);
}

/**
 * The ids of the workers of a run's events whose id or name is `idOrName`. Events, not the
 * workers table: they keep the name a worker had in that run after its row has moved on.
 */
export async function workersNamedInRun(db: Db, runId: string, idOrName: string): Promise<string[]> {
  const rows = await db.selectFrom('events').select('worker_id').distinct()
    .where('run_id', '=', runId).where('worker_id', 'is not', null)
    .where((eb) => eb.or([eb('worker_id', '=', idOrName), eb('worker_name', '=', idOrName)])).execute();
  return rows.map((row) => row.worker_id!);
}
