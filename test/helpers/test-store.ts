import { inject } from 'vitest';
import { openSqliteStore, openStore, type Store } from '../../src/store/store.ts';
import { freshSchema } from './postgres.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The test run's PostgreSQL cluster, when the suite runs on PostgreSQL (test/helpers/postgres-setup.ts). */
    postgresUrl: string;
  }
}

/** Which store the suite runs on: SLIPWAY_TEST_STORE=postgres (the vitest project "postgres") or SQLite. */
export const testStoreKind: 'sqlite' | 'postgres' = process.env.SLIPWAY_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

const schemas = new Map<string, Promise<{ url: string; drop: () => Promise<void> }>>();

/**
 * The store a test names by path: that SQLite file, or on PostgreSQL a schema of its own
 * for each path (opened again by the same path, it is the same store). ':memory:' is a
 * new store each time, gone when closed.
 */
export async function openTestStore(path: string): Promise<Store> {
  if (testStoreKind === 'sqlite') return openSqliteStore(path);
  const memory = path === ':memory:';
  let schema = memory ? undefined : schemas.get(path);
  if (!schema) {
    schema = freshSchema(inject('postgresUrl'));
    if (!memory) schemas.set(path, schema);
  }
  const { url, drop } = await schema;
  const store = await openStore(url);
  return memory ? { ...store, close: async () => { await store.close(); await drop(); } } : store;
}
