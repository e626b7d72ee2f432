import { Kysely, sql } from 'kysely';
import { chmodSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { ensurePrivateDir } from '../config/paths.ts';
import { migrate } from './migrations.ts';
import { inWriteMode, isPostgres, postgresDialect, type WriteMode } from './postgres-dialect.ts';
import type { Database } from './schema.ts';
import { nodeSqliteDialect } from './sqlite-dialect.ts';
import { StoreUnavailable, type StoreFile } from './store-errors.ts';

export type Db = Kysely<Database>;

export interface Store {
  db: Db;
  /** What it was opened from: a SQLite file's path or a postgres:// URL. */
  location: string;
  /** One state change, all or nothing; `shared` ones may run beside each other on PostgreSQL (see WriteMode). */
  transaction<T>(work: (trx: Db) => Promise<T>, mode?: WriteMode): Promise<T>;
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

/** A store URL rather than a SQLite file's path. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//.test(location);
}

/** The store at `location`: a PostgreSQL URL (postgres://…), else a SQLite file's path. */
export function openStore(location: string, options: StoreOptions = {}): Promise<Store> {
  return isPostgresUrl(location) ? openPostgresStore(location, options) : openSqliteStore(location, options);
}

/** The URL as it may be shown: without its password. */
export function shownStoreLocation(location: string): string {
  if (!isPostgresUrl(location)) return location;
  try {
    const url = new URL(location);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return 'postgres://(a malformed URL)';
  }
}

export async function openPostgresStore(location: string, options: StoreOptions = {}): Promise<Store> {
  const shown = shownStoreLocation(location);
  let handle: ReturnType<typeof postgresDialect>;
  try {
    handle = postgresDialect(location);
  } catch (error) {
    throw new StoreUnavailable(shown, 'cannot-open', `the store ${shown} cannot be opened: ${(error as Error).message}`, { cause: error });
  }
  try {
    return await readyStore(new Kysely<Database>({ dialect: handle.dialect }), location, options);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    // A server that is not there, a database that does not exist, a login refused: the operator's to fix.
    if (typeof code === 'string' && (/^E[A-Z]+$/.test(code) || /^(08|28|3D)/.test(code))) {
      throw new StoreUnavailable(shown, 'cannot-open', `the store ${shown} cannot be opened: ${(error as Error).message}`, { cause: error });
    }
    throw error;
  }
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
  return readyStore(new Kysely<Database>({ dialect: handle.dialect }), path, options);
}

/** The store on `db`, migrated (and found writable, when asked); closed again if it is not. */
async function readyStore(db: Db, location: string, options: StoreOptions): Promise<Store> {
  try {
    await migrate(db);
    if (options.writable) await probeWrite(db);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return {
    db,
    location,
    transaction: isPostgres(db)
      ? (work, mode = 'exclusive') => inWriteMode(mode, () => db.transaction().execute(work))
      : (work) => db.transaction().execute(work),
    close: () => db.destroy(),
  };
}

// A store may be opened that cannot be written (a SQLite file without write permission, a
// PostgreSQL role that may only read) and answer reads; only a write finds out. This one
// changes nothing, and is committed so that a disk too full to take a page is found too.
async function probeWrite(db: Db): Promise<void> {
  await db.transaction().execute((trx) => sql`update schema_version set version = version`.execute(trx));
}
