import { sql, type RawBuilder } from 'kysely';

/** A column of rows given to a statement: its name, and the type its values are cast to (PostgreSQL takes a value in VALUES for text). */
export type RowColumn = readonly [name: string, type?: 'integer' | 'bigint'];

/**
 * `with NAME(COLUMNS) as (values (…), …)`: rows given to one set-based statement, which
 * does for the operations of a batch what each would have done with a statement of its
 * own. The same SQL on both stores: SQLite names no columns on VALUES itself, but does on
 * a common table expression.
 */
export function valueRows(name: string, columns: readonly RowColumn[], rows: readonly (readonly unknown[])[]): RawBuilder<unknown> {
  const row = (values: readonly unknown[]) => sql.join(values.map((value, i) => {
    const type = columns[i]![1];
    return type ? sql`cast(${value} as ${sql.raw(type)})` : sql`${value}`;
  }));
  return sql`with ${sql.id(name)}(${sql.join(columns.map(([column]) => sql.id(column)))}) as (values ${sql.join(rows.map((values) => sql`(${row(values)})`))})`;
}
