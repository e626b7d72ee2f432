import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { allBlobs, beginBlob, blobChunkAt, completeBlob, completeBlobSize, deleteBlob, writeBlobChunk } from '../store/blob-rows.ts';
import type { Db } from '../store/store.ts';
import type { Clock } from '../engine/clock.ts';
import { BlobDamaged, type Blob, type BlobStore, type ReadTarget, type StoredBlob, type UploadTarget } from './blob-store.ts';
import { FileBlobs } from './file-blobs.ts';

/** Bytes per row of a blob's chunks: a read or a write holds one at a time. */
export const blobChunkBytes = 1024 * 1024;

/**
 * Blobs in the store's database, so that every coordinator on it serves every artifact and
 * source archive, whichever one received it ([blobs] store = "database", PostgreSQL's
 * default). Each coordinator keeps the blobs it wrote or served as files of its state
 * directory (the files store's layout): what it sends is read from there, and a blob it
 * does not have is copied out of the database once. Since a blob is named by its sha256,
 * any copy of those bytes is the blob: one found in those files and not in the database (a
 * state directory that kept its blobs in files before) is copied into the database when it
 * is asked for.
 */
export class DatabaseBlobs implements BlobStore {
  readonly #db: Db;
  readonly #files: FileBlobs;
  readonly #clock: Clock;

  constructor(db: Db, root: string, clock: Clock) {
    this.#db = db;
    this.#files = new FileBlobs(root);
    this.#clock = clock;
  }

  readonly signsUrls = false;

  get where(): string {
    return 'the store\'s database';
  }

  async put(body: ReadableStream<Uint8Array>, maxBytes: number, what: string): Promise<Blob> {
    const blob = await this.#files.put(body, maxBytes, what);
    await this.#keep(blob);
    return blob;
  }

  async adopt(file: string): Promise<Blob> {
    const blob = await this.#files.adopt(file);
    await this.#keep(blob);
    return blob;
  }

  /**
   * Writes into the database every blob that only this machine's files hold (those of a
   * state directory that kept its blobs in files); answers how many it wrote.
   */
  async keepLocal(): Promise<number> {
    let written = 0;
    for (const blob of await this.#files.list()) if (await this.#keep(blob)) written++;
    return written;
  }

  /** Writes a blob of this machine's files into the database, unless it holds the blob whole already; whether it wrote it. */
  async #keep(blob: Blob): Promise<boolean> {
    if (!(await beginBlob(this.#db, blob.sha256, blob.size, this.#clock.now()))) return false;
    const file = await open(this.#files.path(blob.sha256));
    try {
      const buffer = Buffer.alloc(blobChunkBytes);
      for (let at = 0; at < blob.size;) {
        const { bytesRead } = await file.read(buffer, 0, blobChunkBytes, at);
        if (bytesRead === 0) throw new Error(`blob ${blob.sha256} ended at ${at} of its ${blob.size} bytes`);
        await writeBlobChunk(this.#db, blob.sha256, at, buffer.subarray(0, bytesRead));
        at += bytesRead;
      }
    } finally {
      await file.close();
    }
    await completeBlob(this.#db, blob.sha256);
    return true;
  }

  async size(sha256: string): Promise<number | undefined> {
    const size = await completeBlobSize(this.#db, sha256);
    if (size !== undefined) return size;
    const here = await this.#files.size(sha256);
    if (here !== undefined) await this.#keep({ sha256, size: here });
    return here;
  }

  /** The bytes come through a coordinator, which hashes them as it writes them. */
  async uploadTarget(): Promise<UploadTarget> {
    return { send: true };
  }

  async readTarget(sha256: string): Promise<ReadTarget> {
    await this.#here(sha256);
    return this.#files.readTarget(sha256);
  }

  async read(sha256: string): Promise<Readable> {
    await this.#here(sha256);
    return this.#files.read(sha256);
  }

  /**
   * Copies the blob out of the database into this machine's files, unless they have it. One
   * the database does not hold is left to the files store's answer (it is not there).
   */
  async #here(sha256: string): Promise<void> {
    if ((await this.#files.size(sha256)) !== undefined) return;
    const size = await completeBlobSize(this.#db, sha256);
    if (size === undefined) return;
    const db = this.#db;
    const where = this.where;
    async function* chunks() {
      for (let at = 0; at < size!;) {
        const chunk = await blobChunkAt(db, sha256, at);
        if (!chunk || chunk.byteLength === 0) throw new BlobDamaged(`blob ${sha256} has no bytes at ${at} of its ${size} in ${where}`);
        yield chunk;
        at += chunk.byteLength;
      }
    }
    // The files store hashes what it writes: the copy is checked against the name it came under.
    const copied = await this.#files.put(ReadableStream.from(chunks()), Infinity, `blob ${sha256}`);
    if (copied.sha256 !== sha256 || copied.size !== size) {
      await this.#files.delete(copied.sha256);
      throw new BlobDamaged(`blob ${sha256} in ${where} holds other bytes (sha256 ${copied.sha256}, ${copied.size} bytes)`);
    }
  }

  /** The database's blobs, whole or cut short, and those only this machine's files hold: what retention looks through. */
  async list(): Promise<StoredBlob[]> {
    const stored = (await allBlobs(this.#db)).map(({ sha256, size, stored_at }) => ({ sha256, size, storedAt: stored_at }));
    const known = new Set(stored.map((blob) => blob.sha256));
    return [...stored, ...(await this.#files.list()).filter((blob) => !known.has(blob.sha256))];
  }

  async delete(sha256: string): Promise<void> {
    await deleteBlob(this.#db, sha256);
    await this.#files.delete(sha256);
  }
}
