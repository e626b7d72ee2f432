import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';

/** A stored blob: its content's sha256 and its size. */
export interface Blob {
  sha256: string;
  size: number;
}

export interface StoredBlob extends Blob {
  /** When it was written, or last stored again: ms since the epoch. */
  storedAt: number;
}

/**
 * Where an agent sends a blob's bytes: to the coordinator (`send`), or straight to the
 * store with one request whose URL and headers the store signed (`put`).
 */
export type UploadTarget = { send: true } | { put: { url: string; headers: Record<string, string> } };

/** Where a blob's bytes are read from: a file of this machine, or a signed URL of the store. */
export type ReadTarget = { file: string } | { url: string };

/** How a download is served to a user: a file name and type for its attachment headers. */
export interface AsDownload {
  filename: string;
  contentType: string;
}

/**
 * Content-addressed bytes: each blob stored once under its sha256, however many artifacts
 * (of however many runs) have them. The coordinator and the CLI use only this, so neither
 * cares whether the bytes are files of the state directory or objects of a bucket.
 */
export interface BlobStore {
  /** Where the blobs are, for messages: a directory, or s3://bucket/prefix. */
  readonly where: string;
  /** Whether agents read blobs straight from the store, by URLs it signs, rather than through a coordinator. */
  readonly signsUrls: boolean;
  /** Stores a body sent through the coordinator, refusing one past `maxBytes` (BodyTooLarge naming `what`). */
  put(body: ReadableStream<Uint8Array>, maxBytes: number, what: string): Promise<Blob>;
  /**
   * Takes a file of this machine into the store, named by the sha256 of its bytes: moved
   * into place (files), or uploaded and then removed (a bucket). The file is gone after.
   */
  adopt(file: string, what: string): Promise<Blob>;
  /**
   * The blob's size, or undefined when the store does not hold it. A store that keeps a
   * checksum of its own throws BlobDamaged when it is not `sha256`'s.
   */
  size(sha256: string): Promise<number | undefined>;
  /** Where an agent uploads `blob`. */
  uploadTarget(blob: Blob): Promise<UploadTarget>;
  /** Where an agent, or a user downloading it `as`, reads the blob. */
  readTarget(sha256: string, as?: AsDownload): Promise<ReadTarget>;
  /** The blob's bytes, streamed (the CLI reading the store of its own machine). */
  read(sha256: string): Promise<Readable>;
  /** Every blob held: what retention looks through. */
  list(): Promise<StoredBlob[]>;
  /** Removes a blob; one already gone is no error. */
  delete(sha256: string): Promise<void>;
}

/** A blob whose bytes are not those its name (sha256) says: changed in the store behind Slipway's back. */
export class BlobDamaged extends Error {}

/** A Content-Disposition that makes a browser save the file, under its name, rather than show it. */
export function attachment(filename: string): string {
  return `attachment; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

/** A file's sha256 and size, read as a stream: a blob about to be adopted is not read whole into memory. */
export function blobOfFile(path: string): Promise<Blob> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let size = 0;
    createReadStream(path).on('data', (chunk) => {
      hash.update(chunk);
      size += chunk.length;
    }).on('error', reject).on('end', () => resolve({ sha256: hash.digest('hex'), size }));
  });
}
