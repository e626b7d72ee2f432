import type { Selectable } from 'kysely';
import type { RunEvent } from '../engine/events.ts';
import { noticeCall } from './commit-notices.ts';
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

/**
 * The insert of `rows`. SQLite's seq is its rowid, which the driver returns as the insert id
 * (the last row's): reading the rows back (RETURNING) costs more, on the path that writes two
 * events per task. PostgreSQL has no insert id: it returns the column, and sends `notice`,
 * a commit notice's payload, in the same statement (see noticeCall).
 */
function eventsInsert(db: Db, rows: NewEventRow[], notice?: unknown) {
  const insert = db.insertInto('events').values(rows);
  if (!isPostgres(db)) return insert;
  if (notice === undefined) return insert.returning('seq');
  return db.with('written', () => insert.returning('seq'))
    .selectNoFrom((eb) => [eb.selectFrom('written').select((written) => written.fn.max('seq').as('last')).as('seq'), noticeCall(notice).as('noticed')]);
}

function insertOf(count: number, carrying: boolean) {
  return prepared<Record<string, unknown>, { seq: number }>((db, arg) => {
    const rows = Array.from({ length: count }, (_, i) => Object.fromEntries(columns.map((column) => [column, arg(`${column}${i}`)])) as NewEventRow);
    return eventsInsert(db, rows, carrying ? arg('notice') : undefined);
  });
}

/** Prepared inserts of one to `preparedUpTo` rows: an operation writes a few events (a task's finish and next claim, two). */
const preparedUpTo = 8;
const inserts = [false, true].map((carrying) => Array.from({ length: preparedUpTo + 1 }, (_, count) => (count === 0 ? undefined : insertOf(count, carrying))));

/**
 * Writes events in one statement; the sequence number of the last. The rows of one
 * statement are numbered consecutively: SQLite's by its file lock, PostgreSQL's since
 * write transactions take turns (shared ones under the events lock: see lockEventOrder).
 * `notice` (PostgreSQL): a commit notice's payload that the statement sends as well.
 */
export async function insertEvents(trx: Db, rows: NewEventRow[], notice?: string): Promise<number> {
  const insert = inserts[notice === undefined ? 0 : 1]![rows.length];
  if (!insert) {
    // Many (a run's creation queues thousands of tasks at once): built for their number.
    const numbered = await eventsInsert(trx, rows, notice).execute();
    return Math.max(...numbered.map((row) => Number((row as { seq: number }).seq)));
  }
  const args: Record<string, unknown> = { notice };
  rows.forEach((row, i) => {
    for (const column of columns) args[`${column}${i}`] = row[column];
  });
  const written = await insert.result(trx, args);
  return Number(written.insertId ?? Math.max(...written.rows.map((row) => Number(row.seq))));
}
