import { sql } from 'kysely';
import type { Db } from './store.ts';

/** What a log holds so far: bytes kept and dropped; undefined for one never written. */
export function logState(db: Db, path: string): Promise<{ kept: number; dropped: number } | undefined> {
  return db.selectFrom('logs').select(['kept', 'dropped']).where('path', '=', path).executeTakeFirst();
}

/** What the logs of `paths` hold so far; those never written are missing. */
export async function logStates(db: Db, paths: string[]): Promise<{ path: string; kept: number; dropped: number }[]> {
  if (paths.length === 0) return [];
  return db.selectFrom('logs').select(['path', 'kept', 'dropped']).where('path', 'in', paths).execute();
}

/** A row of text for the end of a log: `offset` bytes into the `total` bytes added to it now. */
export interface LogPiece { path: string; total: number; offset: number; data: string }

/** Pieces per statement, under PostgreSQL's limit on bound values. */
const piecesPerStatement = 1000;

/**
 * Adds the pieces at the ends of their logs, a thousand at most per statement and a log's
 * pieces always in one: a reader sees a log's size and its rows change together, and
 * writers in several coordinators each get bytes of their own (the logs' rows are taken in
 * the order of their paths, so writers wait for each other but never in a cycle). Returns
 * where each log now ends.
 */
export async function appendLogPieces(db: Db, pieces: LogPiece[]): Promise<Map<string, number>> {
  const ends = new Map<string, number>();
  for (const statement of statementsOf(pieces)) {
    const rows = statement.map((p) => sql`(${p.path}::text, ${p.total}::bigint, ${p.offset}::bigint, ${p.data}::text)`);
    const { rows: written } = await sql<{ path: string; ends: number }>`
      with input (path, total, "offset", data) as (values ${sql.join(rows)}),
      grown as (
        insert into logs as l (path, kept, dropped) select distinct path, total, 0 from input order by path
        on conflict (path) do update set kept = l.kept + excluded.kept
        returning l.path, l.kept
      )
      insert into log_chunks (path, at, data)
      select i.path, g.kept - i.total + i."offset", i.data from input i join grown g on g.path = i.path
      returning path, at + octet_length(data) as ends`.execute(db);
    for (const row of written) ends.set(row.path, Math.max(ends.get(row.path) ?? 0, Number(row.ends)));
  }
  return ends;
}

/** The pieces in groups of at most piecesPerStatement, never splitting a log's (which adds its total once). */
function statementsOf(pieces: LogPiece[]): LogPiece[][] {
  const byPath = new Map<string, LogPiece[]>();
  for (const piece of pieces) {
    const group = byPath.get(piece.path);
    if (group) group.push(piece);
    else byPath.set(piece.path, [piece]);
  }
  const statements: LogPiece[][] = [];
  let current: LogPiece[] = [];
  for (const group of byPath.values()) {
    if (current.length > 0 && current.length + group.length > piecesPerStatement) {
      statements.push(current);
      current = [];
    }
    current.push(...group);
  }
  if (current.length > 0) statements.push(current);
  return statements;
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
