import type { Selectable } from 'kysely';
import type { RunEvent } from '../engine/events.ts';
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

// RETURNING, not the driver's insert id: PostgreSQL has none, and both stores return the column.
const insertOne = prepared<NewEventRow, { seq: number }>((db, arg) => db.insertInto('events').values({
  at: arg('at'), run_id: arg('run_id'), kind: arg('kind'), task_key: arg('task_key'), worker_id: arg('worker_id'),
  worker_name: arg('worker_name'), attempt: arg('attempt'), message: arg('message'),
}).returning('seq'));

/** Writes one event (a prepared statement: the dispatch path writes several per task); its sequence number. */
export async function insertEvent(trx: Db, row: NewEventRow): Promise<number> {
  return Number((await insertOne.first(trx, row))!.seq);
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
