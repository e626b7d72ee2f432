import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from '../store/store.ts';
import { createToken, findToken } from '../store/tokens.ts';

export function adminTokenPath(state: string): string {
  return join(state, 'admin.token');
}

/**
 * The server's own admin token, kept in the state directory (owner-only) so that the CLI
 * on the server's machine needs no flag. Made on first start, and again if revoked.
 */
export async function ensureAdminToken(db: Db, state: string, now: number): Promise<{ path: string; created: boolean }> {
  const path = adminTokenPath(state);
  if (existsSync(path) && (await findToken(db, readFileSync(path, 'utf8').trim()))) return { path, created: false };
  const { secret } = await createToken(db, 'admin', ['admin'], now);
  writeFileSync(path, `${secret}\n`, { mode: 0o600 });
  return { path, created: true };
}

/** The admin token of a server on this machine, if there is one. */
export function localAdminToken(state: string): string | undefined {
  const path = adminTokenPath(state);
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
}
