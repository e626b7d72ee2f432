import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { SqliteDialect, type SqliteDatabase, type SqliteStatement } from 'kysely';

/**
 * Kysely's SQLite dialect speaks better-sqlite3's interface; node:sqlite is built in and
 * needs no native addon, so this adapts one to the other. Prepared statements are cached
 * by their SQL text: the dispatch path runs the same few queries thousands of times.
 */
export function nodeSqliteDialect(path: string): { dialect: SqliteDialect; database: DatabaseSync } {
  const database = new DatabaseSync(path);
  database.exec(`
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = NORMAL;
    PRAGMA busy_timeout = 5000;
    PRAGMA foreign_keys = ON;
  `);
  return { dialect: new SqliteDialect({ database: adapt(database) }), database };
}

function adapt(database: DatabaseSync): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    close: () => database.close(),
    prepare(sql) {
      let statement = cache.get(sql);
      if (!statement) {
        statement = adaptStatement(database.prepare(sql));
        if (cache.size > 500) cache.clear();
        cache.set(sql, statement);
      }
      return statement;
    },
  };
}

type Param = null | number | bigint | string | NodeJS.ArrayBufferView;

function adaptStatement(statement: StatementSync): SqliteStatement {
  const reader = statement.columns().length > 0;
  return {
    reader,
    all: (parameters) => statement.all(...(parameters as Param[])),
    run: (parameters) => statement.run(...(parameters as Param[])),
    iterate: (parameters) => statement.iterate(...(parameters as Param[])) as IterableIterator<unknown>,
  };
}
