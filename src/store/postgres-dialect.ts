import { CompiledQuery, PostgresAdapter, PostgresDialect, PostgresDriver, type DatabaseConnection, type Driver, type Kysely } from 'kysely';
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


export function postgresDialect(url: string): { dialect: PostgresDialect; pool: pg.Pool } {
  const pool = new pg.Pool({ connectionString: url, max: 8, types });
  return { dialect: new SerializedPostgresDialect(pool), pool };
}

/** Whether a Kysely instance (or transaction) talks to PostgreSQL. */
export function isPostgres(db: Kysely<any>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
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
  // database go on.
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`begin; select pg_advisory_xact_lock(hashtext('slipway:' || current_schema()))`));
  }
}
