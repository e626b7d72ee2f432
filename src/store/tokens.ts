import type { Scope } from '../engine/scopes.ts';
import { hashSecret, newId, newSecret } from '../util/ids.ts';
import type { Db } from './store.ts';

export interface TokenInfo {
  id: string;
  name: string;
  scopes: Scope[];
  created_at: string;
  revoked_at: string | null;
}

function info(row: { id: string; name: string; scopes: string; created_at: number; revoked_at: number | null }): TokenInfo {
  return {
    id: row.id, name: row.name, scopes: row.scopes.split(',') as Scope[],
    created_at: new Date(Number(row.created_at)).toISOString(),
    revoked_at: row.revoked_at === null ? null : new Date(Number(row.revoked_at)).toISOString(),
  };
}

/** A new token: its secret is returned once and only its hash is kept. */
export async function createToken(db: Db, name: string, scopes: Scope[], now: number): Promise<{ token: TokenInfo; secret: string }> {
  const secret = `sw_${newSecret()}`;
  const row = { id: newId('t'), name, scopes: scopes.join(','), secret_hash: hashSecret(secret), created_at: now, revoked_at: null };
  await db.insertInto('tokens').values(row).execute();
  return { token: info(row), secret };
}

export async function listTokens(db: Db): Promise<TokenInfo[]> {
  const rows = await db.selectFrom('tokens').select(['id', 'name', 'scopes', 'created_at', 'revoked_at']).orderBy('created_at').execute();
  return rows.map(info);
}

/** Revokes a token by id or by name; false when none matched. */
export async function revokeToken(db: Db, idOrName: string, now: number): Promise<boolean> {
  const result = await db.updateTable('tokens').set({ revoked_at: now })
    .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
    .where('revoked_at', 'is', null).executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** The live token a secret belongs to, if any. */
export async function findToken(db: Db, secret: string): Promise<TokenInfo | undefined> {
  const row = await db.selectFrom('tokens').select(['id', 'name', 'scopes', 'created_at', 'revoked_at'])
    .where('secret_hash', '=', hashSecret(secret)).where('revoked_at', 'is', null).executeTakeFirst();
  return row ? info(row) : undefined;
}
