import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { pipeline } from 'node:stream/promises';

/**
 * Writes a download to `file` and says what arrived, its size and sha256, read as it was
 * written: whoever asked for bytes by their sha256 checks them before using them.
 */
export async function writeHashed(body: Readable | ReadableStream<Uint8Array> | null, file: string, mode = 0o600): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  const source = body === null ? Readable.from([]) : body instanceof Readable ? body : Readable.fromWeb(body as WebReadableStream<Uint8Array>);
  await pipeline(source, hashing, createWriteStream(file, { mode }));
  return { sha256: hash.digest('hex'), size };
}
