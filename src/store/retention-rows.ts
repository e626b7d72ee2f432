import type { ExpressionBuilder } from 'kysely';
import type { Database } from './schema.ts';
import type { Db } from './store.ts';

/** Worker states whose worker may still use its run's rows: its credential, its attempt, its log. */
const liveStates = ['starting', 'idle', 'busy', 'draining'] as const;

/** Tables whose rows belong to one run, deleted with it; `runs` last. */
const runTables = ['artifacts', 'events', 'attempts', 'task_needs', 'tasks', 'workers', 'run_pools'] as const;

/** SQLite takes a bounded number of parameters per statement: ids go this many at a time. */
const chunk = 500;

/** Runs that ended before `before` and have no live worker (a pool's worker may serve other runs under an old run's row). */
export async function finishedRunsBefore(db: Db, before: number): Promise<string[]> {
  const rows = await db.selectFrom('runs').select('id')
    .where('status', '!=', 'running').where('finished_at', 'is not', null).where('finished_at', '<', before)
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom('workers').select('workers.id')
      .whereRef('workers.run_id', '=', 'runs.id').where('workers.state', 'in', liveStates))))
    .orderBy('finished_at').execute();
  return rows.map((row) => row.id);
}

/** Deletes runs with every row of theirs; returns how many runs went. */
export async function deleteRuns(db: Db, runIds: readonly string[]): Promise<number> {
  let deleted = 0;
  for (let i = 0; i < runIds.length; i += chunk) {
    const ids = runIds.slice(i, i + chunk);
    for (const table of runTables) await db.deleteFrom(table).where('run_id', 'in', ids).execute();
    deleted += Number((await db.deleteFrom('runs').where('id', 'in', ids).executeTakeFirst()).numDeletedRows);
  }
  return deleted;
}

/**
 * The artifact rows that expired: those of runs that ended before `finishedBefore` (none
 * when undefined), those whose own expires_at has passed (a running run's are kept), and
 * those of `runs`, which are about to be deleted.
 */
function expiredArtifact(eb: ExpressionBuilder<Database, 'artifacts'>, finishedBefore: number | undefined, now: number, runs: readonly string[]) {
  const running = eb.selectFrom('runs').select('id').where('status', '=', 'running');
  const ended = eb.selectFrom('runs').select('id').where('status', '!=', 'running')
    .where('finished_at', 'is not', null).where('finished_at', '<', finishedBefore ?? Number.MIN_SAFE_INTEGER);
  return eb.or([
    eb('run_id', 'in', ended),
    eb.and([eb('expires_at', 'is not', null), eb('expires_at', '<', now), eb('run_id', 'not in', running)]),
    ...runs.length > 0 ? [eb('run_id', 'in', runs)] : [],
  ]);
}

/** Deletes the artifact rows that expired (see expiredArtifact); returns their count and bytes. */
export async function deleteExpiredArtifacts(db: Db, finishedBefore: number | undefined, now: number, runs: readonly string[]): Promise<{ count: number; bytes: number }> {
  const found = await db.selectFrom('artifacts').select(({ fn }) => [fn.countAll<number>().as('count'), fn.sum<number | null>('size').as('bytes')])
    .where((eb) => expiredArtifact(eb, finishedBefore, now, runs)).executeTakeFirstOrThrow();
  await db.deleteFrom('artifacts').where((eb) => expiredArtifact(eb, finishedBefore, now, runs)).execute();
  return { count: Number(found.count), bytes: Number(found.bytes ?? 0) };
}

/** The blobs some artifact row or cache entry still has, or some run has as its source archive. */
export async function blobsInUse(db: Db): Promise<Set<string>> {
  const rows = await db.selectFrom('artifacts').select('sha256').union(db.selectFrom('caches').select('sha256')).execute();
  return new Set([...rows.map((row) => row.sha256), ...await sourcesInUse(db)]);
}

/** Deletes the cache entries neither restored nor saved since `usedBefore`; their count and bytes. */
export async function deleteUnusedCaches(db: Db, usedBefore: number): Promise<{ count: number; bytes: number }> {
  const found = await db.selectFrom('caches').select((eb) => [eb.fn.countAll().as('count'), eb.fn.sum<number>('size').as('bytes')])
    .where('used_at', '<', usedBefore).executeTakeFirstOrThrow();
  await db.deleteFrom('caches').where('used_at', '<', usedBefore).execute();
  return { count: Number(found.count), bytes: Number(found.bytes ?? 0) };
}

/** The source archives (blobs, and their unpacked trees) some run still names. */
export async function sourcesInUse(db: Db): Promise<Set<string>> {
  const rows = await db.selectFrom('runs').select('source_digest').distinct().where('source_digest', 'is not', null).execute();
  return new Set(rows.map((row) => row.source_digest!));
}
