import type { Db } from './store.ts';

export interface SecretInfo {
  name: string;
  updated_at: string;
}

/** Stores a sealed secret, replacing one of the same name. */
export async function putSecret(db: Db, name: string, sealed: string, now: number): Promise<void> {
  await db.insertInto('secrets').values({ name, sealed, updated_at: now })
    .onConflict((oc) => oc.column('name').doUpdateSet({ sealed, updated_at: now })).execute();
}

/** Names and when each was set: never the values, sealed or not. */
export async function listSecrets(db: Db): Promise<SecretInfo[]> {
  const rows = await db.selectFrom('secrets').select(['name', 'updated_at']).orderBy('name').execute();
  return rows.map((row) => ({ name: row.name, updated_at: new Date(Number(row.updated_at)).toISOString() }));
}

/** False when there was none of that name. */
export async function deleteSecret(db: Db, name: string): Promise<boolean> {
  const result = await db.deleteFrom('secrets').where('name', '=', name).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** The sealed values of the secrets named that exist. */
export async function sealedSecrets(db: Db, names: readonly string[]): Promise<{ name: string; sealed: string }[]> {
  if (names.length === 0) return [];
  return db.selectFrom('secrets').select(['name', 'sealed']).where('name', 'in', names).execute();
}
