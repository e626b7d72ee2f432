import { existsSync, readdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { sql } from 'kysely';
import { DatabaseBlobs } from '../blobs/database-blobs.ts';
import { systemClock } from '../engine/clock.ts';
import { wholeCharacters } from '../util/whole-characters.ts';
import { appendLogPieces } from './log-chunks.ts';
import { isPostgres } from './postgres-dialect.ts';
import type { Database } from './schema.ts';
import type { Db, Store } from './store.ts';

/**
 * The tables a store's history lives in, in an order that never inserts a row before one
 * it refers to. Left out: schema_version (each store has its own, the same after opening)
 * and coordinators (the processes on a store, which come and go with it).
 */
const copiedTables = ['store_identity', 'runs', 'run_pools', 'tasks', 'task_needs', 'workers', 'attempts', 'events', 'tokens', 'secrets', 'artifacts', 'caches'] as const satisfies readonly (keyof Database)[];

/**
 * What is counted: a table's rows, or the log files (`logs`) and the blobs (`blobs`) moved
 * into PostgreSQL's tables.
 */
export type CopiedTable = (typeof copiedTables)[number] | 'logs' | 'blobs';

/** Where the source's files are: its logs, and its blobs when they are to go into PostgreSQL's tables too. */
export interface CopiedFiles { logs: string; blobs?: string }

const rowsPerRead = 2000;
const rowsPerInsert = 250;

/** Rows of the target store that make it not empty: a copy would mix two histories. */
export async function historyIn(db: Db): Promise<{ runs: number; tokens: number }> {
  const [runs, tokens] = await Promise.all([
    db.selectFrom('runs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    db.selectFrom('tokens').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
  ]);
  return { runs: Number(runs.n), tokens: Number(tokens.n) };
}

/**
 * Copies every row of the SQLite store `from` into `to`, both at the same schema version, in one
 * transaction of the target: it holds all of the source or, on any failure, nothing. The
 * target's own store identity gives way to the source's, so the machines the source's
 * coordinators started stay theirs. Into PostgreSQL, which keeps logs in its tables, the log
 * files under `files.logs` go too (agents' own files stay on their machine), and so do the
 * blobs under `files.blobs`, when given (artifacts and source archives: see DatabaseBlobs).
 * `progress` hears each table as it is done.
 */
export async function copyStore(from: Store, to: Store, files: CopiedFiles, progress: (table: CopiedTable, rows: number) => void): Promise<Partial<Record<CopiedTable, number>>> {
  const counts: Partial<Record<CopiedTable, number>> = {};
  await to.transaction(async (trx) => {
    await trx.deleteFrom('store_identity').execute();
    for (const table of copiedTables) {
      let copied = 0;
      // Read in pages in rowid order, so a large events table never sits whole in memory.
      for (let offset = 0; ; offset += rowsPerRead) {
        const rows = await sql<Record<string, unknown>>`select * from ${sql.table(table)} order by rowid limit ${rowsPerRead} offset ${offset}`.execute(from.db);
        for (let i = 0; i < rows.rows.length; i += rowsPerInsert) {
          await trx.insertInto(table).values(rows.rows.slice(i, i + rowsPerInsert) as never).execute();
        }
        copied += rows.rows.length;
        if (rows.rows.length < rowsPerRead) break;
      }
      counts[table] = copied;
      progress(table, copied);
    }
    await continueEventSequence(trx);
    if (isPostgres(trx)) {
      counts.logs = await copyLogFiles(files.logs, trx);
      progress('logs', counts.logs);
      if (files.blobs !== undefined) {
        counts.blobs = await new DatabaseBlobs(trx, files.blobs, systemClock).keepLocal();
        progress('blobs', counts.blobs);
      }
    }
  });
  return counts;
}

/** Bytes per chunk of a log file moved into the store, cut where no character is split. */
const logChunkBytes = 1024 * 1024;

/** Moves the log files under `dir` into the store's log tables, by their path under it; returns how many. */
async function copyLogFiles(dir: string, trx: Db): Promise<number> {
  let files = 0;
  for (const path of logFilesUnder(dir)) {
    const file = await open(path);
    try {
      const key = relative(dir, path);
      const buffer = Buffer.alloc(logChunkBytes);
      for (let at = 0; ;) {
        const { bytesRead } = await file.read(buffer, 0, logChunkBytes, at);
        if (bytesRead === 0) break;
        // A full read may end inside a character (at most 3 bytes of it): it is cut before that one, read again next.
        const whole = bytesRead < logChunkBytes ? bytesRead : wholeCharacters(buffer.subarray(0, bytesRead), bytesRead - 3) || bytesRead;
        await appendLogPieces(trx, [{ path: key, total: whole, offset: 0, data: buffer.subarray(0, whole).toString('utf8') }]);
        at += whole;
      }
    } finally {
      await file.close();
    }
    files += 1;
  }
  return files;
}

/** The logs of runs and pools under `dir`; not agents' own (`*.agent.log`), which stay on their machine. */
function logFilesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.log') && !entry.name.endsWith('.agent.log'))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

/** Events keep their numbers: the target's sequence must go on after the last one. */
async function continueEventSequence(trx: Db): Promise<void> {
  if (!isPostgres(trx)) return;
  await sql`select setval(pg_get_serial_sequence('events', 'seq'), coalesce((select max(seq) from events), 0) + 1, false)`.execute(trx);
}
