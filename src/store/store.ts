import { Kysely } from 'kysely';
import type { DatabaseSync } from 'node:sqlite';
import { chmodSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { ensurePrivateDir } from '../config/paths.ts';
import { migrate } from './migrations.ts';
import type { Database } from './schema.ts';
import { nodeSqliteDialect } from './sqlite-dialect.ts';

export type Db = Kysely<Database>;

export interface Store {
  db: Db;
  /** One state change, all or nothing. */
  transaction<T>(work: (trx: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export async function openSqliteStore(path: string): Promise<Store> {
  if (path !== ':memory:') ensurePrivateDir(dirname(path));
  const fresh = path !== ':memory:' && !existsSync(path);
  let handle: { dialect: ReturnType<typeof nodeSqliteDialect>['dialect']; database: DatabaseSync };
  try {
    handle = nodeSqliteDialect(path);
  } catch (error) {
    throw new Error(`cannot open the store ${path}: ${(error as Error).message}`);
  }
  if (fresh) chmodSync(path, 0o600);
  const db = new Kysely<Database>({ dialect: handle.dialect });
  await migrate(db);
  return {
    db,
    transaction: (work) => db.transaction().execute(work),
    close: () => db.destroy(),
  };
}
