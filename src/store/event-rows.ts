import type { Selectable } from 'kysely';
import type { RunEvent } from '../engine/events.ts';
import type { EventsTable } from './schema.ts';

/** An event as the store keeps it, as the bus and the API carry it. */
export function eventFromRow(row: Selectable<EventsTable>): RunEvent {
  return {
    seq: row.seq, at: new Date(Number(row.at)).toISOString(), run: row.run_id, kind: row.kind,
    ...(row.task_key !== null && { task: row.task_key }), ...(row.worker_id !== null && { worker: row.worker_id }),
    ...(row.worker_name !== null && { worker_name: row.worker_name }), ...(row.attempt !== null && { attempt: row.attempt }),
    ...(row.message !== null && { message: row.message }),
  };
}
