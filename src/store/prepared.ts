import { CompiledQuery, type Compilable, type QueryResult } from 'kysely';
import { isPostgres, keepStatement } from './postgres-dialect.ts';
import type { Db } from './store.ts';

type Arg<A> = <K extends keyof A & string>(name: K) => A[K];

const marker = '\u0000slipway:';
const rowMarker = /^\u0000slipway-row:(\d+):(\d+)$/;

type Slot = { name: string } | { row: number; column: number } | { value: unknown };

interface Plan { sql: string; slots: Slot[] }

/**
 * Statements of more rows than this are not kept prepared on PostgreSQL: each count of rows
 * is a statement of its own, which every connection would keep, parsed and planned.
 */
const keptRowsUpTo = 16;

/** Compiles once, with placeholders: named arguments, and cells of rows. */
function planOf(db: Db, compile: () => CompiledQuery, rows = 0): Plan {
  const compiled = compile();
  const slots = compiled.parameters.map((p): Slot => {
    if (typeof p !== 'string') return { value: p };
    const cell = rowMarker.exec(p);
    if (cell) return { row: Number(cell[1]), column: Number(cell[2]) };
    return p.startsWith(marker) ? { name: p.slice(marker.length) } : { value: p };
  });
  if (isPostgres(db) && rows <= keptRowsUpTo) keepStatement(compiled.sql);
  return { sql: compiled.sql, slots };
}

function run<R>(db: Db, { sql, slots }: Plan, args: Record<string, unknown>, rows: readonly (readonly unknown[])[] = []) {
  const parameters = slots.map((slot) => ('name' in slot ? args[slot.name] : 'row' in slot ? rows[slot.row]![slot.column] : slot.value));
  return db.executeQuery<R>(CompiledQuery.raw(sql, parameters));
}

const named = ((name: string) => `${marker}${name}`) as Arg<any>;

/**
 * A query built and compiled once per dialect, then run with new values. Building and
 * compiling a Kysely query costs more than SQLite takes to run these small statements,
 * and the dispatch path runs the same dozen thousands of times a second.
 *
 * `build` must describe the same SQL whatever the values: it runs once, with placeholders.
 */
export function prepared<A extends Record<string, unknown>, R>(build: (db: Db, arg: Arg<A>) => Compilable<R>) {
  // The compiled SQL depends on the dialect only; its adapter identifies it.
  const plans = new WeakMap<object, Plan>();

  function execute(db: Db, args: A) {
    const dialect = db.getExecutor().adapter;
    let plan = plans.get(dialect);
    if (!plan) plans.set(dialect, plan = planOf(db, () => build(db, named).compile()));
    return run<R>(db, plan, args);
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

/**
 * prepared() for a set-based statement, which does for the operations of a batch what each
 * would have done with a statement of its own: given rows of values as well as named
 * arguments, it is compiled once per dialect and count of rows. `build` is given each
 * row's cells as placeholders, and must return the query compiled.
 */
export function preparedRows<Row extends readonly unknown[], R, A extends Record<string, unknown> = Record<string, never>>(
  width: Row['length'], build: (db: Db, rows: Row[], arg: Arg<A>) => CompiledQuery<R>,
) {
  const plans = new WeakMap<object, Map<number, Plan>>();

  return async (db: Db, rows: readonly Row[], args = {} as A): Promise<QueryResult<R>> => {
    const dialect = db.getExecutor().adapter;
    let byCount = plans.get(dialect);
    if (!byCount) plans.set(dialect, byCount = new Map());
    let plan = byCount.get(rows.length);
    if (!plan) {
      const cells = rows.map((_, i) => Array.from({ length: width }, (__, j) => `\u0000slipway-row:${i}:${j}`) as unknown as Row);
      byCount.set(rows.length, plan = planOf(db, () => build(db, cells, named), rows.length));
    }
    return run<R>(db, plan, args, rows);
  };
}
