import { sql } from 'kysely';
import type { Db } from './store.ts';

/** What a log holds so far: bytes kept and dropped; undefined for one never written. */
export function logState(db: Db, path: string): Promise<{ kept: number; dropped: number } | undefined> {
  return db.selectFrom('logs').select(['kept', 'dropped']).where('path', '=', path).executeTakeFirst();
}

/**
 * Appends `data` (`bytes` long) to the log: one statement, so a reader sees the log's size
 * and its chunks change together, and writers in several coordinators each get bytes of
 * their own. Returns where the chunk starts.
 */
export async function appendLogChunk(db: Db, path: string, data: string, bytes: number): Promise<number> {
  const { rows } = await sql<{ at: number }>`
    with grown as (
      insert into logs as l (path, kept, dropped) values (${path}, ${bytes}, 0)
      on conflict (path) do update set kept = l.kept + excluded.kept
      returning l.kept - ${bytes}::bigint as at
    )
    insert into log_chunks (path, at, data) select ${path}, at, ${data} from grown returning at`.execute(db);
  return Number(rows[0]!.at);
}

/** Counts bytes dropped past the cap (the count only grows). */
export async function recordLogDropped(db: Db, path: string, dropped: number): Promise<void> {
  await db.insertInto('logs').values({ path, kept: 0, dropped })
    .onConflict((conflict) => conflict.column('path').doUpdateSet({ dropped: sql`greatest(logs.dropped, excluded.dropped)` }))
    .execute();
}

/** The chunks that hold bytes `start` (included) to `end` (excluded), in order. */
export function logChunks(db: Db, path: string, start: number, end: number): Promise<{ at: number; data: string }[]> {
  return db.selectFrom('log_chunks').select(['at', 'data']).where('path', '=', path).where('at', '<', end)
    .where(sql<boolean>`at + octet_length(data) > ${start}`).orderBy('at').execute();
}

/** The log's last chunk: whether its text ends a line. */
export function lastLogChunk(db: Db, path: string): Promise<{ data: string } | undefined> {
  return db.selectFrom('log_chunks').select('data').where('path', '=', path).orderBy('at', 'desc').limit(1).executeTakeFirst();
}

/** Deletes the logs under `prefix` (a run's `<run>/`); returns the bytes they held. */
export async function deleteLogsUnder(db: Db, prefix: string, dryRun: boolean): Promise<number> {
  const like = `${prefix.replace(/[\\%_]/g, '\\$&')}%`;
  const { bytes } = await db.selectFrom('logs').select(sql<number>`coalesce(sum(kept), 0)`.as('bytes')).where('path', 'like', like).executeTakeFirstOrThrow();
  if (!dryRun) {
    await db.deleteFrom('log_chunks').where('path', 'like', like).execute();
    await db.deleteFrom('logs').where('path', 'like', like).execute();
  }
  return Number(bytes);
}
