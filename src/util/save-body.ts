import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';

/** A request body past its limit; the message names what it is (`the source archive`, `an artifact`). */
export class BodyTooLarge extends Error {
  constructor(what: string, maxBytes: number) {
    super(`${what} is over ${megabytes(maxBytes)}`);
  }
}

function megabytes(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${Math.round(bytes / 1024 ** 3)} GiB` : `${Math.round(bytes / 1024 / 1024)} MiB`;
}

/**
 * Writes a request body to `file` (private), refusing one past `maxBytes` with
 * BodyTooLarge (naming `what`); each chunk is also handed to `onChunk`. A body that breaks
 * off, runs over or meets a full disk rejects (the caller removes the file), never with an
 * unhandled stream error that would take the server down.
 */
export async function saveBody(
  body: ReadableStream<Uint8Array>, file: string, maxBytes: number, what: string, onChunk: (chunk: Uint8Array) => void = () => undefined,
): Promise<number> {
  let size = 0;
  await pipeline(body as unknown as AsyncIterable<Uint8Array>, async function* counted(chunks: AsyncIterable<Uint8Array>) {
    for await (const chunk of chunks) {
      size += chunk.byteLength;
      if (size > maxBytes) throw new BodyTooLarge(what, maxBytes);
      onChunk(chunk);
      yield chunk;
    }
  }, createWriteStream(file, { mode: 0o600 }));
  return size;
}
