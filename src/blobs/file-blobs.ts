import { createHash } from 'node:crypto';
import { copyFileSync, createReadStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { idPatterns, newId } from '../util/ids.ts';
import { saveBody } from '../util/save-body.ts';
import { blobOfFile, type Blob, type BlobStore, type ReadTarget, type StoredBlob, type UploadTarget } from './blob-store.ts';

/**
 * Content-addressed files under a directory of the state directory: each blob is stored
 * once, under its sha256 (`sha256/ab/cdef…`), however many artifacts (of however many
 * runs) have those bytes. Written to a private partial file first and renamed into place,
 * so a blob is either whole or absent.
 */
export class FileBlobs implements BlobStore {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  readonly signsUrls = false;

  get where(): string {
    return this.root;
  }

  /** Stores a body, refusing one past `maxBytes` (BodyTooLarge naming `what`). */
  async put(body: ReadableStream<Uint8Array>, maxBytes: number, what: string): Promise<Blob> {
    const incoming = join(this.root, 'incoming');
    mkdirSync(incoming, { recursive: true, mode: 0o700 });
    const partial = join(incoming, newId('a'));
    const hash = createHash('sha256');
    try {
      const size = await saveBody(body, partial, maxBytes, what, (chunk) => hash.update(chunk));
      const sha256 = hash.digest('hex');
      this.#place(partial, sha256);
      return { sha256, size };
    } catch (error) {
      rmSync(partial, { force: true });
      throw error;
    }
  }

  /** Moves the file into place; one on another file system is copied, then removed. */
  async adopt(file: string): Promise<Blob> {
    const blob = await blobOfFile(file);
    try {
      this.#place(file, blob.sha256);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
      const incoming = join(this.root, 'incoming');
      mkdirSync(incoming, { recursive: true, mode: 0o700 });
      const partial = join(incoming, newId('a'));
      try {
        copyFileSync(file, partial);
        this.#place(partial, blob.sha256);
      } finally {
        rmSync(partial, { force: true });
      }
      rmSync(file, { force: true });
    }
    return blob;
  }

  /** Renames `file` to the blob's name, or removes it when the store holds those bytes already. */
  #place(file: string, sha256: string): void {
    const final = this.path(sha256);
    if (existsSync(final)) {
      rmSync(file);
      // Fresh again: retention deletes only a blob no row names that is also old, and
      // the row about to name this one is not written yet.
      const now = new Date();
      utimesSync(final, now, now);
    } else {
      mkdirSync(join(final, '..'), { recursive: true, mode: 0o700 });
      renameSync(file, final);
    }
  }

  /** Where a blob is (or would be): refuses anything but a sha256, so no name leaves the store. */
  path(sha256: string): string {
    if (!idPatterns.digest.test(sha256)) throw new Error(`not a sha256: ${sha256.slice(0, 80)}`);
    return join(this.root, 'sha256', sha256.slice(0, 2), sha256.slice(2));
  }

  /** The blob's size, or undefined when the store does not hold it. */
  async size(sha256: string): Promise<number | undefined> {
    try {
      return statSync(this.path(sha256)).size;
    } catch {
      return undefined;
    }
  }

  /** The bytes come through the coordinator, which hashes them as it writes them. */
  async uploadTarget(): Promise<UploadTarget> {
    return { send: true };
  }

  async readTarget(sha256: string): Promise<ReadTarget> {
    return { file: this.path(sha256) };
  }

  async read(sha256: string): Promise<Readable> {
    const path = this.path(sha256);
    if (!existsSync(path)) throw new Error(`blob ${sha256} is no longer in ${this.root}`);
    return createReadStream(path);
  }

  /** Every blob held, with when it was last stored: what retention looks through. */
  async list(): Promise<StoredBlob[]> {
    const top = join(this.root, 'sha256');
    if (!existsSync(top)) return [];
    return readdirSync(top).flatMap((prefix) => readdirSync(join(top, prefix)).flatMap((rest) => {
      const sha256 = prefix + rest;
      if (!idPatterns.digest.test(sha256)) return [];
      const stat = statSync(join(top, prefix, rest), { throwIfNoEntry: false });
      return stat ? [{ sha256, size: stat.size, storedAt: stat.mtimeMs }] : [];
    }));
  }

  /** Removes a blob; one already gone is no error. */
  async delete(sha256: string): Promise<void> {
    rmSync(this.path(sha256), { force: true });
  }
}
