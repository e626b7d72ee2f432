import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { Context } from 'hono';
import type { Logs } from '../coordinator/logs.ts';
import { fail } from './errors.ts';

/** Bytes `start` to `end` of a file, both included, as HTTP counts them. */
export interface ByteRange { start: number; end: number }

export type RangeAsked = { whole: true } | { range: ByteRange } | { unsatisfiable: true } | { error: string };

/**
 * What a `Range` header asks of a file of `size` bytes. One range of bytes is served:
 * `bytes=N-`, `bytes=N-M` or `bytes=-N` (the last N). A unit other than bytes is ignored,
 * as HTTP says; several ranges or a malformed one are an error rather than a guess.
 */
export function rangeAsked(header: string | undefined, size: number): RangeAsked {
  if (header === undefined) return { whole: true };
  const unit = /^\s*([A-Za-z]+)=/.exec(header);
  if (unit && unit[1]!.toLowerCase() !== 'bytes') return { whole: true };
  const spec = /^\s*bytes=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!spec || (spec[1] === '' && spec[2] === '')) {
    return { error: `Range: expected bytes=START-, bytes=START-END or bytes=-LENGTH (one range), got ${JSON.stringify(header.slice(0, 100))}` };
  }
  const [first, last] = [spec[1] === '' ? undefined : Number(spec[1]), spec[2] === '' ? undefined : Number(spec[2])];
  if (![first, last].every((n) => n === undefined || Number.isSafeInteger(n))) return { error: 'Range: a byte position is too large' };
  if (first === undefined) {
    // A suffix: the last `last` bytes.
    if (last === 0 || size === 0) return { unsatisfiable: true };
    return { range: { start: Math.max(0, size - last!), end: size - 1 } };
  }
  if (last !== undefined && last < first) return { error: `Range: bytes=${first}-${last} ends before it starts` };
  if (first >= size) return { unsatisfiable: true };
  return { range: { start: first, end: Math.min(last ?? size - 1, size - 1) } };
}

/**
 * A file streamed from the disk as it is when asked, never read whole into memory, with
 * `Range` support (see sendBytes). A file not written yet is an empty one.
 */
export async function sendFile(c: Context, path: string, contentType: string): Promise<Response> {
  const file = await open(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  let streaming = false;
  try {
    // The size now: bytes appended while the answer streams are for the next request.
    const size = file ? (await file.stat()).size : 0;
    return sendBytes(c, size, contentType, (start, end) => {
      // From here the stream owns the file: it closes it at its end, or when the client goes away.
      streaming = true;
      // Chunks of 1 MiB: about three times the throughput of the default 64 KiB, for a few MiB per reader.
      return Readable.toWeb(file!.createReadStream({ start, end, highWaterMark: 1024 * 1024 })) as ReadableStream;
    });
  } finally {
    if (!streaming) await file?.close();
  }
}

/** A log, wherever it is kept, streamed as it is when asked (see sendBytes). */
export async function sendLog(c: Context, logs: Logs, path: string): Promise<Response> {
  const size = await logs.size(path);
  return sendBytes(c, size, 'text/plain; charset=utf-8', (start, end) => logs.stream(path, start, end + 1));
}

/**
 * `size` bytes with `Range` support: 206 with `Content-Range` for one range, 416 for a
 * range past their end; `body` gives bytes `start` to `end`, both included.
 */
function sendBytes(c: Context, size: number, contentType: string, body: (start: number, end: number) => ReadableStream): Response {
  const asked = rangeAsked(c.req.header('range'), size);
  if ('error' in asked) return fail(c, 400, asked.error);
  if ('unsatisfiable' in asked) {
    c.header('content-range', `bytes */${size}`);
    return fail(c, 416, `Range: not within the ${size} bytes there are`);
  }
  const { start, end } = 'range' in asked ? asked.range : { start: 0, end: size - 1 };
  const headers = { 'content-type': contentType, 'accept-ranges': 'bytes', 'content-length': String(end - start + 1) };
  if ('range' in asked) c.header('content-range', `bytes ${start}-${end}/${size}`);
  const status = 'range' in asked ? 206 : 200;
  // HEAD gets the headers alone; Hono would drop a body without closing its file.
  if (size === 0 || c.req.method === 'HEAD') return c.body(null, status, headers);
  return c.body(body(start, end), status, headers);
}
