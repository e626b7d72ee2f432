import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { idPatterns, newId } from '../util/ids.ts';
import { saveBody } from '../util/save-body.ts';

/** A stored blob: its content's sha256 and its size. */
export interface Blob {
  sha256: string;
  size: number;
}

/**
 * Content-addressed files under a directory of the state directory: each blob is stored
 * once, under its sha256 (`sha256/ab/cdef…`), however many artifacts (of however many
 * runs) have those bytes. Written to a private partial file first and renamed into place,
 * so a blob is either whole or absent.
 */
export class FileBlobs {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
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
      const final = this.path(sha256);
      if (existsSync(final)) {
        rmSync(partial);
        // Fresh again: retention deletes only a blob no artifact has that is also old, and
        // the row about to name this one is not written yet.
        const now = new Date();
        utimesSync(final, now, now);
      } else {
        mkdirSync(join(final, '..'), { recursive: true, mode: 0o700 });
        renameSync(partial, final);
      }
      return { sha256, size };
    } catch (error) {
      rmSync(partial, { force: true });
      throw error;
    }
  }

  /** Where a blob is (or would be): refuses anything but a sha256, so no name leaves the store. */
  path(sha256: string): string {
    if (!idPatterns.digest.test(sha256)) throw new Error(`not a sha256: ${sha256.slice(0, 80)}`);
    return join(this.root, 'sha256', sha256.slice(0, 2), sha256.slice(2));
  }

  /** The blob's size, or undefined when the store does not hold it. */
  size(sha256: string): number | undefined {
    try {
      return statSync(this.path(sha256)).size;
    } catch {
      return undefined;
    }
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

export interface StoredBlob extends Blob {
  /** When it was written, or last stored again: ms since the epoch. */
  storedAt: number;
}
