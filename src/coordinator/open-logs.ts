import { isPostgres } from '../store/postgres-dialect.ts';
import type { Db } from '../store/store.ts';
import { LogFiles } from './log-files.ts';
import { LogTable } from './log-table.ts';
import type { Logs } from './logs.ts';

/** The logs of the store on `db`, whose files (if any) are under `dir`. */
export function openLogs(db: Db, dir: string, maxBytes?: number): Logs {
  return isPostgres(db) ? new LogTable(db, dir, maxBytes) : new LogFiles(dir, maxBytes);
}
