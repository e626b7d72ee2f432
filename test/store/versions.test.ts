import type { Kysely } from 'kysely';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { openStore } from '../../src/store/store.ts';
import { freshSchema } from '../helpers/postgres.ts';
import { tempDir } from '../helpers/temp.ts';
import { openTestStore, testStoreKind } from '../helpers/test-store.ts';

describe('schema versions', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  it('refuse a coordinator older than the store, saying so, and change nothing', async () => {
    const path = join(dir.path, 'newer.db');
    const store = await openTestStore(path);
    const db = store.db as unknown as Kysely<{ schema_version: { version: number } }>;
    const { version } = await db.selectFrom('schema_version').select('version').executeTakeFirstOrThrow();
    await db.updateTable('schema_version').set({ version: version + 1 }).execute();
    const location = store.location;
    await expect(openStore(location)).rejects.toThrow(`the store is at schema version ${version + 1}, newer than this Slipway knows (${version}): another coordinator on it runs a newer Slipway; upgrade this one`);
    expect((await db.selectFrom('schema_version').select('version').executeTakeFirstOrThrow()).version).toBe(version + 1);
    await store.close();
  });

  // SQLite's coordinators are processes of one machine, whose opens take turns at its file lock.
  it.runIf(testStoreKind === 'postgres')('migrate once when coordinators open a new store together', async () => {
    const empty = await freshSchema(inject('postgresUrl'));
    const opened = await Promise.all([openStore(empty.url), openStore(empty.url), openStore(empty.url)]);
    const identities = await Promise.all(opened.map((store) => store.db.selectFrom('store_identity').select('id').execute()));
    // One identity: the migration that makes it ran once.
    expect(new Set(identities.map((rows) => JSON.stringify(rows)))).toEqual(new Set([JSON.stringify(identities[0])]));
    expect(identities[0]).toHaveLength(1);
    for (const store of opened) await store.close();
    await empty.drop();
  });

  it('say plainly that a PostgreSQL store cannot be reached, and never print its password', async () => {
    const opening = openStore('postgres://slipway:hunter22@127.0.0.1:9/slipway');
    await expect(opening).rejects.toThrow(/^the store postgres:\/\/slipway:\*\*\*@127\.0\.0\.1:9\/slipway cannot be opened: connect ECONNREFUSED 127\.0\.0\.1:9$/);
    await expect(opening).rejects.toMatchObject({ name: 'StoreUnavailable', trouble: 'cannot-open' });
    await expect(opening.catch((error: Error) => `${error.message} ${error.stack}`)).resolves.not.toContain('hunter22');
  });
});
