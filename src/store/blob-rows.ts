import type { Db } from './store.ts';

/** A whole blob's size; undefined when the store holds none, or one still being written. */
export async function completeBlobSize(db: Db, sha256: string): Promise<number | undefined> {
  const row = await db.selectFrom('blobs').select('size').where('sha256', '=', sha256).where('complete', '=', 1).executeTakeFirst();
  return row && Number(row.size);
}

/**
 * Starts storing a blob: its row, not yet complete. Answers whether its bytes must be
 * written: not when the store holds the blob whole already, whose row is only made fresh
 * again (retention deletes a blob no row names only when it is also old, and the row
 * about to name this one is not written yet).
 */
export async function beginBlob(db: Db, sha256: string, size: number, now: number): Promise<boolean> {
  const row = await db.insertInto('blobs').values({ sha256, size, stored_at: now, complete: 0 })
    .onConflict((oc) => oc.column('sha256').doUpdateSet({ stored_at: now }))
    .returning('complete').executeTakeFirstOrThrow();
  return Number(row.complete) !== 1;
}

/** One chunk of a blob's bytes, at its offset; a chunk written already (by another writer of the same bytes) is left. */
export async function writeBlobChunk(db: Db, sha256: string, at: number, data: Uint8Array): Promise<void> {
  await db.insertInto('blob_chunks').values({ sha256, at, data }).onConflict((oc) => oc.columns(['sha256', 'at']).doNothing()).execute();
}

export async function completeBlob(db: Db, sha256: string): Promise<void> {
  await db.updateTable('blobs').set({ complete: 1 }).where('sha256', '=', sha256).execute();
}

/** The chunk of a blob that starts at `at`; undefined past its end. */
export async function blobChunkAt(db: Db, sha256: string, at: number): Promise<Uint8Array | undefined> {
  const row = await db.selectFrom('blob_chunks').select('data').where('sha256', '=', sha256).where('at', '=', at).executeTakeFirst();
  return row?.data;
}

/** Every blob, whole or cut short, with when it was last stored. */
export async function allBlobs(db: Db): Promise<{ sha256: string; size: number; stored_at: number }[]> {
  return (await db.selectFrom('blobs').select(['sha256', 'size', 'stored_at']).execute())
    .map((row) => ({ sha256: row.sha256, size: Number(row.size), stored_at: Number(row.stored_at) }));
}

/** Removes a blob and (by its foreign key) its chunks. */
export async function deleteBlob(db: Db, sha256: string): Promise<void> {
  await db.deleteFrom('blobs').where('sha256', '=', sha256).execute();
}
