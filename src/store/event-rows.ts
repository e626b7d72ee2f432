import type { Selectable } from 'kysely';
import type { RunEvent } from '../engine/events.ts';
import { isPostgres } from './postgres-dialect.ts';
import { prepared } from './prepared.ts';
import type { EventsTable } from './schema.ts';
import type { Db } from './store.ts';

/** An event as the store keeps it, as the bus and the API carry it. */
export function eventFromRow(row: Selectable<EventsTable>): RunEvent {
  return {
    seq: row.seq, at: new Date(Number(row.at)).toISOString(), run: row.run_id, kind: row.kind,
    ...(row.task_key !== null && { task: row.task_key }), ...(row.worker_id !== null && { worker: row.worker_id }),
    ...(row.worker_name !== null && { worker_name: row.worker_name }), ...(row.attempt !== null && { attempt: row.attempt }),
    ...(row.message !== null && { message: row.message }),
  };
}

/** An event as it is written; the store numbers it. */
export type NewEventRow = Omit<EventsTable, 'seq'>;

const columns = ['at', 'run_id', 'kind', 'task_key', 'worker_id', 'worker_name', 'attempt', 'message'] as const;

// SQLite's seq is its rowid, which the driver returns as the insert id (the last row's): reading
// the rows back (RETURNING) costs more, on the path that writes two events per task.
// PostgreSQL has no insert id: it returns the column.
function insertOf(count: number) {
  return prepared<Record<string, unknown>, { seq: number }>((db, arg) => {
    const rows = Array.from({ length: count }, (_, i) => Object.fromEntries(columns.map((column) => [column, arg(`${column}${i}`)])) as NewEventRow);
    const insert = db.insertInto('events').values(rows);
    return isPostgres(db) ? insert.returning('seq') : insert;
  });
}

/** Prepared inserts of one to `preparedUpTo` rows: an operation writes a few events (a task's finish and next claim, two). */
const preparedUpTo = 8;
const inserts = Array.from({ length: preparedUpTo + 1 }, (_, count) => (count === 0 ? undefined : insertOf(count)));

/**
 * Writes events in one statement; the sequence number of the last. The rows of one
 * statement are numbered consecutively: SQLite's by its file lock, PostgreSQL's since
 * write transactions take turns (shared ones under the events lock: see lockEventOrder).
 */
export async function insertEvents(trx: Db, rows: NewEventRow[]): Promise<number> {
  const insert = inserts[rows.length];
  if (!insert) {
    // Many (a run's creation queues thousands of tasks at once): built for their number.
    const numbered = await trx.insertInto('events').values(rows).returning('seq').execute();
    return Math.max(...numbered.map((row) => Number(row.seq)));
  }
  const args: Record<string, unknown> = {};
  rows.forEach((row, i) => {
    for (const column of columns) args[`${column}${i}`] = row[column];
  });
  const written = await insert.result(trx, args);
  return Number(written.insertId ?? Math.max(...written.rows.map((row) => Number(row.seq))));
}
