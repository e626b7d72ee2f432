import type { Db } from './store.ts';

export interface CacheEntry {
  key: string;
  sha256: string;
  size: number;
}

/**
 * The entry to restore: the key itself, else the newest entry whose key starts with the
 * first restore key that has one. Marks it used, so the scope's cap evicts others first.
 */
export async function restorableCache(db: Db, scope: string, key: string, restoreKeys: string[], now: number): Promise<(CacheEntry & { exact: boolean }) | undefined> {
  let found: CacheEntry | undefined = await db.selectFrom('caches').select(['key', 'sha256', 'size']).where('scope', '=', scope).where('key', '=', key).executeTakeFirst();
  const exact = found !== undefined;
  for (const prefix of restoreKeys) {
    if (found) break;
    found = await db.selectFrom('caches').select(['key', 'sha256', 'size']).where('scope', '=', scope)
      .where('key', '>=', prefix).where('key', '<', `${prefix}\u{10ffff}`).orderBy('created_at', 'desc').limit(1).executeTakeFirst();
  }
  if (!found) return undefined;
  await db.updateTable('caches').set({ used_at: now }).where('scope', '=', scope).where('key', '=', found.key).execute();
  return { ...found, size: Number(found.size), exact };
}

/** Whether a scope has an entry with these bytes: what lets an attempt of that scope fetch them. */
export async function scopeHasCacheBlob(db: Db, scope: string, sha256: string): Promise<boolean> {
  const row = await db.selectFrom('caches').select('key').where('sha256', '=', sha256).where('scope', '=', scope).limit(1).executeTakeFirst();
  return row !== undefined;
}

/**
 * Records an entry (a key saved again replaces its bytes), then drops the scope's least
 * recently used entries until what is left fits in `maxBytes`; the new one stays whatever
 * its size. Their blobs are left to the blob store's collection.
 */
export async function saveCache(db: Db, scope: string, entry: CacheEntry, now: number, maxBytes: number): Promise<string[]> {
  await db.insertInto('caches').values({ scope, ...entry, created_at: now, used_at: now })
    .onConflict((conflict) => conflict.columns(['scope', 'key']).doUpdateSet({ sha256: entry.sha256, size: entry.size, created_at: now, used_at: now }))
    .execute();
  const rows = await db.selectFrom('caches').select(['key', 'size']).where('scope', '=', scope).orderBy('used_at', 'desc').orderBy('created_at', 'desc').execute();
  let total = 0;
  const evicted: string[] = [];
  for (const row of rows) {
    total += Number(row.size);
    if (total > maxBytes && row.key !== entry.key) evicted.push(row.key);
  }
  if (evicted.length > 0) await db.deleteFrom('caches').where('scope', '=', scope).where('key', 'in', evicted).execute();
  return evicted;
}
