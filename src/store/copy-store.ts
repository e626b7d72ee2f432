import { sql } from 'kysely';
import { isPostgres } from './postgres-dialect.ts';
import type { Database } from './schema.ts';
import type { Db, Store } from './store.ts';

/**
 * The tables a store's history lives in, in an order that never inserts a row before one
 * it refers to. Left out: schema_version (each store has its own, the same after opening)
 * and coordinators (the processes on a store, which come and go with it).
 */
const copiedTables = ['store_identity', 'runs', 'run_pools', 'tasks', 'task_needs', 'workers', 'attempts', 'events', 'tokens', 'secrets', 'artifacts', 'caches'] as const satisfies readonly (keyof Database)[];

export type CopiedTable = (typeof copiedTables)[number];

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
 * coordinators started stay theirs. `progress` hears each table as it is done.
 */
export async function copyStore(from: Store, to: Store, progress: (table: CopiedTable, rows: number) => void): Promise<Record<CopiedTable, number>> {
  const counts = {} as Record<CopiedTable, number>;
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
  });
  return counts;
}

/** Events keep their numbers: the target's sequence must go on after the last one. */
async function continueEventSequence(trx: Db): Promise<void> {
  if (!isPostgres(trx)) return;
  await sql`select setval(pg_get_serial_sequence('events', 'seq'), coalesce((select max(seq) from events), 0) + 1, false)`.execute(trx);
}
