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

const insertOne = prepared<NewEventRow, unknown>((db, arg) => db.insertInto('events').values({
  at: arg('at'), run_id: arg('run_id'), kind: arg('kind'), task_key: arg('task_key'), worker_id: arg('worker_id'),
  worker_name: arg('worker_name'), attempt: arg('attempt'), message: arg('message'),
}));

/** Writes one event (a prepared statement: the dispatch path writes several per task); its sequence number. */
export function insertEvent(trx: Db, row: NewEventRow): Promise<number> {
  return insertOne.insertId(trx, row);
}

/**
 * Writes many events in one statement (a run's creation queues thousands of tasks at once);
 * the sequence number of the last. SQLite numbers the rows of one statement consecutively.
 */
export async function insertEvents(trx: Db, rows: NewEventRow[]): Promise<number> {
  const result = await trx.insertInto('events').values(rows).executeTakeFirst();
  return Number(result.insertId);
}
