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

// SQLite's seq is its rowid, which the driver returns as the insert id: reading it back as a
// row (RETURNING) costs more, on the path that writes two events per task. PostgreSQL has no
// insert id: it returns the column.
const insertOne = prepared<NewEventRow, { seq: number }>((db, arg) => {
  const insert = db.insertInto('events').values({
    at: arg('at'), run_id: arg('run_id'), kind: arg('kind'), task_key: arg('task_key'), worker_id: arg('worker_id'),
    worker_name: arg('worker_name'), attempt: arg('attempt'), message: arg('message'),
  });
  return isPostgres(db) ? insert.returning('seq') : insert;
});

/** Writes one event (a prepared statement: the dispatch path writes several per task); its sequence number. */
export async function insertEvent(trx: Db, row: NewEventRow): Promise<number> {
  const written = await insertOne.result(trx, row);
  return Number(written.insertId ?? written.rows[0]!.seq);
}

/**
 * Writes many events in one statement (a run's creation queues thousands of tasks at once);
 * the sequence number of the last. The rows of one statement are numbered consecutively:
 * SQLite's by its file lock, PostgreSQL's since write transactions take turns.
 */
export async function insertEvents(trx: Db, rows: NewEventRow[]): Promise<number> {
  const numbered = await trx.insertInto('events').values(rows).returning('seq').execute();
  return Math.max(...numbered.map((row) => Number(row.seq)));
}
