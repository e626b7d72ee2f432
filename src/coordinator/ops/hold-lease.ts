import { sql } from 'kysely';
import { isPostgres } from '../../store/postgres-dialect.ts';
import type { Db } from '../../store/store.ts';

/** Now on the database's clock, in ms: the coordinators' own clocks may disagree. */
function databaseNow(db: Db) {
  return isPostgres(db)
    ? sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`
    : sql<number>`cast((julianday('now') - 2440587.5) * 86400000 as integer)`;
}

/**
 * Takes or renews the lease `name` for `holder` for `ms` on the database's clock; whether
 * it is held. One statement: taken only when free, run out, or already the holder's, so
 * two coordinators never hold it at once. Works through PgBouncer's transaction mode.
 */
export async function holdLease(db: Db, name: string, holder: string, ms: number): Promise<boolean> {
  const until = sql<number>`${databaseNow(db)} + ${ms}`;
  const held = await db.insertInto('leases').values({ name, holder, until })
    .onConflict((conflict) => conflict.column('name').doUpdateSet({ holder, until })
      .where((eb) => eb.or([eb('leases.until', '<', databaseNow(db)), eb('leases.holder', '=', holder)])))
    .returning('holder')
    .executeTakeFirst();
  return held?.holder === holder;
}

/** A coordinator that closes gives its leases up: the next one takes them at its next turn. */
export async function releaseLeases(db: Db, holder: string): Promise<void> {
  await db.deleteFrom('leases').where('holder', '=', holder).execute();
}
