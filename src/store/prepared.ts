import { CompiledQuery, type Compilable } from 'kysely';
import { isPostgres, keepStatement } from './postgres-dialect.ts';
import type { Db } from './store.ts';

type Arg<A> = <K extends keyof A & string>(name: K) => A[K];

const marker = '\u0000slipway:';

/**
 * A query built and compiled once per dialect, then run with new values. Building and
 * compiling a Kysely query costs more than SQLite takes to run these small statements,
 * and the dispatch path runs the same dozen thousands of times a second.
 *
 * `build` must describe the same SQL whatever the values: it runs once, with placeholders.
 */
export function prepared<A extends Record<string, unknown>, R>(build: (db: Db, arg: Arg<A>) => Compilable<R>) {
  const plans = new WeakMap<object, { sql: string; slots: ({ name: string } | { value: unknown })[] }>();

  function plan(db: Db) {
    // The compiled SQL depends on the dialect only; its adapter identifies it.
    const dialect = db.getExecutor().adapter;
    let found = plans.get(dialect);
    if (!found) {
      const compiled = build(db, ((name: string) => `${marker}${name}`) as Arg<A>).compile();
      found = {
        sql: compiled.sql,
        slots: compiled.parameters.map((p) => (typeof p === 'string' && p.startsWith(marker) ? { name: p.slice(marker.length) } : { value: p })),
      };
      if (isPostgres(db)) keepStatement(found.sql);
      plans.set(dialect, found);
    }
    return found;
  }

  async function execute(db: Db, args: A) {
    const { sql, slots } = plan(db);
    const parameters = slots.map((slot) => ('name' in slot ? args[slot.name] : slot.value));
    return db.executeQuery<R>(CompiledQuery.raw(sql, parameters));
  }

  return {
    /** The driver's whole answer: rows, rows changed, and (SQLite) the id of an inserted row. */
    result: execute,
    async all(db: Db, args: A): Promise<R[]> {
      return (await execute(db, args)).rows;
    },
    async first(db: Db, args: A): Promise<R | undefined> {
      return (await execute(db, args)).rows[0];
    },
    /** Rows changed by an insert, update or delete. */
    async changed(db: Db, args: A): Promise<number> {
      return Number((await execute(db, args)).numAffectedRows ?? 0);
    },
  };
}
