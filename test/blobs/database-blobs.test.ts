import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlobDamaged } from '../../src/blobs/blob-store.ts';
import { blobChunkBytes, DatabaseBlobs } from '../../src/blobs/database-blobs.ts';
import { FileBlobs } from '../../src/blobs/file-blobs.ts';
import { openBlobStore } from '../../src/blobs/open-blob-store.ts';
import { beginBlob, writeBlobChunk } from '../../src/store/blob-rows.ts';
import type { Store } from '../../src/store/store.ts';
import { BodyTooLarge } from '../../src/util/save-body.ts';
import { tempDir } from '../helpers/temp.ts';
import { openTestStore, testStoreKind } from '../helpers/test-store.ts';

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function body(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new Blob([bytes]).stream();
}

const clock = { now: () => Date.now(), after: () => () => undefined };

describe('blobs in the store\'s database, which every coordinator on it serves', () => {
  const dir = tempDir();
  let store: Store;
  // Two coordinators on one store, each with a state directory of its own.
  let here: DatabaseBlobs;
  let there: DatabaseBlobs;
  let n = 0;

  beforeEach(async () => {
    n++;
    store = await openTestStore(':memory:');
    here = new DatabaseBlobs(store.db, join(dir.path, `here-${n}`, 'blobs'), clock);
    there = new DatabaseBlobs(store.db, join(dir.path, `there-${n}`, 'blobs'), clock);
  });
  afterEach(async () => store.close());
  afterAll(() => dir.remove());

  it('serves a blob that one coordinator received from another, byte for byte, over several chunks', async () => {
    const bytes = randomBytes(2 * blobChunkBytes + 12345);
    const blob = await here.put(body(bytes), 10 * blobChunkBytes, 'an artifact');
    expect(blob).toEqual({ sha256: sha256(bytes), size: bytes.length });

    expect(await there.size(blob.sha256)).toBe(bytes.length);
    const target = await there.readTarget(blob.sha256);
    expect('file' in target && target.file.startsWith(join(dir.path, `there-${n}`))).toBe(true);
    expect(sha256(readFileSync((target as { file: string }).file))).toBe(blob.sha256);
    expect(sha256(await buffer(await there.read(blob.sha256)))).toBe(blob.sha256);
    expect((await there.list()).map((b) => [b.sha256, b.size])).toEqual([[blob.sha256, bytes.length]]);
  });

  it('stores the same bytes once, however often they are stored; deleted, each coordinator\'s retention finds its own copy', async () => {
    const bytes = randomBytes(1000);
    const first = await here.put(body(bytes), 10_000, 'an artifact');
    const source = join(dir.path, `archive-${n}.tar.gz`);
    writeFileSync(source, bytes);
    expect(await there.adopt(source)).toEqual(first);
    const rows = await store.db.selectFrom('blobs').select(['sha256', 'complete']).execute();
    expect(rows).toEqual([{ sha256: first.sha256, complete: 1 }]);

    await there.delete(first.sha256);
    expect(await there.size(first.sha256)).toBe(undefined);
    expect(await there.list()).toEqual([]);
    expect(await store.db.selectFrom('blob_chunks').select('at').execute()).toEqual([]);
    // The other coordinator's copy is one its files alone hold: its own retention deletes it.
    expect((await here.list()).map((blob) => blob.sha256)).toEqual([first.sha256]);
    await here.delete(first.sha256);
    expect(await here.list()).toEqual([]);
  });

  it('refuses a body past its limit and keeps nothing of it', async () => {
    await expect(here.put(body(randomBytes(5000)), 4096, 'an artifact')).rejects.toThrow(BodyTooLarge);
    expect(await here.list()).toEqual([]);
    expect(await store.db.selectFrom('blobs').select('sha256').execute()).toEqual([]);
  });

  it('never serves a blob cut short (a coordinator died writing it), and lists it for retention', async () => {
    const bytes = randomBytes(blobChunkBytes + 10);
    const digest = sha256(bytes);
    await beginBlob(store.db, digest, bytes.length, 1_000);
    await writeBlobChunk(store.db, digest, 0, bytes.subarray(0, blobChunkBytes));

    expect(await there.size(digest)).toBe(undefined);
    await expect(there.read(digest)).rejects.toThrow(/no longer in/);
    expect(await there.list()).toEqual([{ sha256: digest, size: bytes.length, storedAt: 1_000 }]);

    // Stored again in full, it is whole.
    await here.put(body(bytes), 10 * blobChunkBytes, 'an artifact');
    expect(sha256(await buffer(await there.read(digest)))).toBe(digest);
  });

  it('takes into the database a blob that only a coordinator\'s files held (blobs kept in files before)', async () => {
    const bytes = randomBytes(3000);
    const files = new FileBlobs(join(dir.path, `here-${n}`, 'blobs'));
    const blob = await files.put(body(bytes), 10_000, 'an artifact');
    expect(await there.size(blob.sha256)).toBe(undefined);
    expect((await here.list()).map((b) => b.sha256)).toEqual([blob.sha256]);

    expect(await here.size(blob.sha256)).toBe(bytes.length);
    expect(sha256(await buffer(await there.read(blob.sha256)))).toBe(blob.sha256);
  });

  it('refuses bytes changed in the database behind its back, and keeps no copy of them', async () => {
    const bytes = randomBytes(3000);
    const blob = await here.put(body(bytes), 10_000, 'an artifact');
    await sql`update blob_chunks set data = ${randomBytes(3000)}`.execute(store.db);

    await expect(there.readTarget(blob.sha256)).rejects.toThrow(BlobDamaged);
    expect((await new FileBlobs(join(dir.path, `there-${n}`, 'blobs')).list())).toEqual([]);
  });

  it('is the default on PostgreSQL; files are on SQLite', () => {
    const root = join(dir.path, `default-${n}`);
    mkdirSync(root);
    const chosen = openBlobStore(undefined, root, store.db);
    expect(chosen).toBeInstanceOf(testStoreKind === 'postgres' ? DatabaseBlobs : FileBlobs);
    expect(openBlobStore({ store: 'database' }, root, store.db)).toBeInstanceOf(DatabaseBlobs);
    expect(openBlobStore({ store: 'files' }, root, store.db)).toBeInstanceOf(FileBlobs);
  });
});
