import { Kysely, sql } from 'kysely';
import { chmodSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { ensurePrivateDir } from '../config/paths.ts';
import { migrate } from './migrations.ts';
import type { Database } from './schema.ts';
import { nodeSqliteDialect } from './sqlite-dialect.ts';
import { StoreUnavailable, type StoreFile } from './store-errors.ts';

export type Db = Kysely<Database>;

export interface Store {
  db: Db;
  /** One state change, all or nothing. */
  transaction<T>(work: (trx: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** How long a write waits for another process's lock before it fails. */
  busyTimeoutMs?: number;
  /**
   * Fail now, with StoreUnavailable, if the store cannot be written: a coordinator must not
   * start on a store it cannot write. Readers (`slipway show`) can use a read-only one.
   */
  writable?: boolean;
}

export async function openSqliteStore(path: string, options: StoreOptions = {}): Promise<Store> {
  const file: StoreFile = { path, busyTimeoutMs: options.busyTimeoutMs ?? 5000 };
  if (path !== ':memory:') {
    try {
      ensurePrivateDir(dirname(path));
    } catch (error) {
      throw new StoreUnavailable(path, 'cannot-open', `the store ${path} cannot be opened: its directory cannot be created (${(error as Error).message})`, { cause: error });
    }
  }
  const fresh = path !== ':memory:' && !existsSync(path);
  let handle: ReturnType<typeof nodeSqliteDialect>;
  try {
    handle = nodeSqliteDialect(file);
  } catch (error) {
    if (error instanceof StoreUnavailable) throw error;
    throw new Error(`cannot open the store ${path}: ${(error as Error).message}`);
  }
  if (fresh) chmodSync(path, 0o600);
  const db = new Kysely<Database>({ dialect: handle.dialect });
  try {
    await migrate(db);
    if (options.writable) await probeWrite(db);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return {
    db,
    transaction: (work) => db.transaction().execute(work),
    close: () => db.destroy(),
  };
}

// SQLite opens a file it may not write without complaint and answers reads from it; only
// a write finds out. This one changes nothing, and is committed so that a disk too full
// to take a page is found too.
async function probeWrite(db: Db): Promise<void> {
  await db.transaction().execute((trx) => sql`update schema_version set version = version`.execute(trx));
}
