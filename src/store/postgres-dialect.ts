import { AsyncLocalStorage } from 'node:async_hooks';
import { CompiledQuery, PostgresAdapter, PostgresDialect, PostgresDriver, sql, type DatabaseConnection, type Driver, type Kysely } from 'kysely';
import pg from 'pg';

/**
 * PostgreSQL answers 64-bit integers (bigint columns, count(*)) and numerics (sum of a
 * bigint) as strings, since they can exceed a JavaScript number; the store's are
 * milliseconds, bytes and counts, far below 2^53, and the queries are written for numbers.
 */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === pg.types.builtins.INT8 || oid === pg.types.builtins.NUMERIC) return Number;
    return pg.types.getTypeParser(oid, format);
  }) as typeof pg.types.getTypeParser,
};


/** SQL the store runs again and again (see prepared()), by the name each connection keeps it under. */
const statementNames = new Map<string, string>();

/**
 * Has every connection keep `text` parsed and planned, the first time it runs it: what a
 * statement of the dispatch path costs PostgreSQL is mostly planning it (a claim's, 0.5 ms).
 */
export function keepStatement(text: string): void {
  if (!statementNames.has(text)) statementNames.set(text, `slipway_${statementNames.size + 1}`);
}

/** A connection that runs the statements the store keeps as named prepared statements. */
class StatementKeepingClient extends pg.Client {
  override query(...args: unknown[]): never {
    const [text, values, callback] = args;
    const name = typeof text === 'string' ? statementNames.get(text) : undefined;
    const query = super.query as (...a: unknown[]) => never;
    return name ? query.call(this, { name, text, values }, callback) : query.apply(this, args);
  }
}

export function postgresDialect(url: string): { dialect: PostgresDialect; pool: pg.Pool } {
  const pool = new pg.Pool({ connectionString: url, max: 8, types, Client: StatementKeepingClient });
  return { dialect: new SerializedPostgresDialect(pool), pool };
}

/** Whether a Kysely instance (or transaction) talks to PostgreSQL. */
export function isPostgres(db: Kysely<any>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/**
 * How a transaction shares the store with others (see SerializedPostgresDriver): `exclusive`
 * alone, `shared` beside other shared ones, for operations that lock the rows they decide on
 * (claims). SQLite has one writer at a time either way.
 */
export type WriteMode = 'exclusive' | 'shared';

const writeMode = new AsyncLocalStorage<WriteMode>();

/** Runs `work` (which begins a transaction) with its transaction in `mode`. */
export function inWriteMode<T>(mode: WriteMode, work: () => Promise<T>): Promise<T> {
  return writeMode.run(mode, work);
}

/** Whether `error` is PostgreSQL's report that it ended a deadlock by failing this transaction. */
export function isDeadlock(error: unknown): boolean {
  return error instanceof Error && (error as { code?: unknown }).code === '40P01';
}

/** Whether the transaction this runs in is a shared one: others may be deciding beside it. */
export function inSharedWrite(): boolean {
  return writeMode.getStore() === 'shared';
}

/**
 * Shared transactions write their events one at a time, from the first event to the commit,
 * so events are numbered in the order they become visible: a follower that has read up to
 * one never misses an earlier one committed after it.
 */
export async function lockEventOrder(trx: Kysely<any>): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext('slipway-events:' || current_schema()))`.execute(trx);
}

class SerializedPostgresDialect extends PostgresDialect {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    super({ pool });
    this.#pool = pool;
  }

  override createDriver(): Driver {
    return new SerializedPostgresDriver({ pool: this.#pool });
  }
}

class SerializedPostgresDriver extends PostgresDriver {
  // The coordinator's operations read, decide and write in one transaction, as they do on
  // SQLite, whose BEGIN IMMEDIATE lets one writer in at a time. Here the same rule is one
  // transaction-scoped advisory lock, taken in the statement that begins: coordinators on
  // other machines wait for each other's commits instead of deciding on what they read
  // before them. It is released by COMMIT or ROLLBACK, also through PgBouncer's
  // transaction mode. The lock is the store's schema's: stores in other schemas of the
  // database go on. Claims take it shared: they run beside each other (never beside
  // anything else), each locking the worker and the task it decides on, skipping tasks
  // another claim holds (see ops/claim.ts).
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    const lock = writeMode.getStore() === 'shared' ? 'pg_advisory_xact_lock_shared' : 'pg_advisory_xact_lock';
    await connection.executeQuery(CompiledQuery.raw(`begin; select ${lock}(hashtext('slipway:' || current_schema()))`));
  }
}
