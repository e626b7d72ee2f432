import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { CompiledQuery, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type SqliteDatabase, type SqliteStatement } from 'kysely';
import { guarded, type StoreFile } from './store-errors.ts';

/**
 * Kysely's SQLite dialect speaks better-sqlite3's interface; node:sqlite is built in and
 * needs no native addon, so this adapts one to the other. Prepared statements are cached
 * by their SQL text: the dispatch path runs the same few queries thousands of times.
 * Every call into SQLite passes through here, so this is where a store that cannot be
 * written becomes a StoreUnavailable.
 */
export function nodeSqliteDialect(file: StoreFile): { dialect: SqliteDialect; database: DatabaseSync } {
  const database = guarded(file, () => {
    const opened = new DatabaseSync(file.path);
    try {
      // 32 MiB of page cache, not the default 2: the working set of a run of a few thousand
      // tasks (its tasks, attempts, events and their indexes) outgrows 2 MiB, and every page
      // read again is a read from the OS on the dispatch path. Pages are taken as used.
      // Temporary files in memory: a group commit's savepoints keep the pages they change in a
      // sub-journal, which SQLite otherwise makes a file for, one per batch (open, write,
      // unlink and close on the dispatch path).
      opened.exec(`
        PRAGMA journal_mode = WAL;
        PRAGMA synchronous = NORMAL;
        PRAGMA busy_timeout = ${Math.max(0, Math.floor(file.busyTimeoutMs))};
        PRAGMA foreign_keys = ON;
        PRAGMA cache_size = -32768;
        PRAGMA temp_store = MEMORY;
      `);
      return opened;
    } catch (error) {
      opened.close();
      throw error;
    }
  });
  return { dialect: new NodeSqliteDialect(adapt(database, file), database), database };
}

class NodeSqliteDialect extends SqliteDialect {
  readonly #adapted: SqliteDatabase;
  readonly #database: DatabaseSync;

  constructor(adapted: SqliteDatabase, database: DatabaseSync) {
    super({ database: adapted });
    this.#adapted = adapted;
    this.#database = database;
  }

  override createDriver(): Driver {
    return new NodeSqliteDriver(this.#adapted, this.#database);
  }
}

class NodeSqliteDriver extends SqliteDriver {
  readonly #database: DatabaseSync;

  constructor(adapted: SqliteDatabase, database: DatabaseSync) {
    super({ database: adapted });
    this.#database = database;
  }

  // Every transaction of the coordinator writes. Taking the write lock at BEGIN means a
  // lock held by another process is waited out once, before any work, rather than in the
  // middle of a batch; and a deferred transaction that read before writing can fail at
  // once (SQLITE_BUSY_SNAPSHOT), which no busy timeout waits out.
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  // SQLite ends a transaction by itself on some failures (an I/O error, a full disk at
  // commit). A ROLLBACK then fails with "no transaction is active", and Kysely would throw
  // that instead of the failure that mattered; when a transaction is still open (a failed
  // COMMIT can leave one) it must be rolled back, or the next BEGIN fails.
  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (this.#database.isTransaction) await super.rollbackTransaction(connection);
  }
}

function adapt(database: DatabaseSync, file: StoreFile): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    close: () => database.close(),
    prepare(sql) {
      let statement = cache.get(sql);
      if (!statement) {
        statement = adaptStatement(guarded(file, () => database.prepare(sql)), file);
        if (cache.size > 500) cache.clear();
        cache.set(sql, statement);
      }
      return statement;
    },
  };
}

type Param = null | number | bigint | string | NodeJS.ArrayBufferView;

function adaptStatement(statement: StatementSync, file: StoreFile): SqliteStatement {
  const reader = statement.columns().length > 0;
  return {
    reader,
    all: (parameters) => guarded(file, () => statement.all(...(parameters as Param[]))),
    run: (parameters) => guarded(file, () => statement.run(...(parameters as Param[]))),
    iterate: (parameters) => guardedRows(file, guarded(file, () => statement.iterate(...(parameters as Param[]))) as IterableIterator<unknown>),
  };
}

function* guardedRows(file: StoreFile, rows: IterableIterator<unknown>): IterableIterator<unknown> {
  while (true) {
    const next = guarded(file, () => rows.next());
    if (next.done) return;
    yield next.value;
  }
}
