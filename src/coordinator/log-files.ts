import { closeSync, constants, createReadStream, mkdirSync, openSync, readSync, statSync, writevSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { checkedId } from '../util/ids.ts';
import { removeTree } from '../util/remove-tree.ts';
import { wholeCharacters } from '../util/whole-characters.ts';
import type { Logs } from './logs.ts';

/** What one attempt's or worker's log keeps unless `[server] max_log_bytes` says otherwise. */
export const defaultMaxLogBytes = 64 * 1024 * 1024;

/**
 * Where each log is: one per attempt and one per worker under `<run>/`, one per pool under
 * `pools/`, below `root`. Names are our own ids, never task keys or other user text; each
 * id is checked against its exact shape here too, so no caller can make a path out of it.
 */
export class LogPaths {
  readonly #root: string;

  constructor(root: string) {
    this.#root = root;
  }

  attemptPath(runId: string, attemptId: string): string {
    return join(this.#root, checkedId('run', runId), 'attempts', `${checkedId('attempt', attemptId)}.log`);
  }

  workerPath(runId: string, workerId: string): string {
    return join(this.#root, checkedId('run', runId), 'workers', `${checkedId('worker', workerId)}.log`);
  }

  /** A pool's own notices (a provider's fleet-wide cap holding its starts back): `logs/pools/`, by its id with anything but [A-Za-z0-9._-] as '_'. */
  poolPath(poolId: string): string {
    return join(this.#root, 'pools', `${poolId.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_')}.log`);
  }

  /** Where a local agent process writes its own diagnostics (crashes before it can report). */
  agentPath(runId: string, workerId: string): string {
    return join(this.#root, checkedId('run', runId), 'workers', `${checkedId('worker', workerId)}.agent.log`);
  }

  /** Where a run's logs are. */
  runPath(runId: string): string {
    return join(this.#root, checkedId('run', runId));
  }
}

/**
 * The logs as files under `root` (the state directory's `logs/`). Writes are queued behind
 * the file's opening, and the file is kept open while a log is live: the dispatch path waits
 * for no open or close, only for its bytes to reach the page cache. A log keeps at most
 * `maxBytes`: a worker may send output without end, and the disk is the server's.
 */
export class LogFiles extends LogPaths implements Logs {
  readonly #maxBytes: number;
  readonly #open = new Map<string, LogWriter>();
  /** Logs whose last writes are still landing: one appended to again goes on after them. */
  readonly #closing = new Map<string, LogWriter>();

  constructor(root: string, maxBytes = defaultMaxLogBytes) {
    super(root);
    this.#maxBytes = maxBytes;
  }

  async size(path: string): Promise<number> {
    return statSync(path, { throwIfNoEntry: false })?.size ?? 0;
  }

  async read(path: string, start: number, length: number): Promise<Buffer> {
    const file = await open(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (!file) return Buffer.alloc(0);
    try {
      // A tail looks again and again: only what is there is allocated.
      const buffer = Buffer.alloc(Math.max(0, Math.min(length, (await file.stat()).size - start)));
      if (buffer.length === 0) return buffer;
      const { bytesRead } = await file.read(buffer, 0, buffer.length, start);
      return buffer.subarray(0, bytesRead);
    } finally {
      await file.close();
    }
  }

  stream(path: string, start: number, end: number): ReadableStream<Uint8Array> {
    if (end <= start) return new ReadableStream({ start: (controller) => controller.close() });
    // The stream holds the file until its end, or until its reader goes away. Chunks of 1 MiB:
    // about three times the throughput of the default 64 KiB, for a few MiB per reader.
    return Readable.toWeb(createReadStream(path, { start, end: end - 1, highWaterMark: 1024 * 1024 })) as ReadableStream<Uint8Array>;
  }

  async removeRun(runId: string, dryRun: boolean): Promise<number> {
    return removeTree(this.runPath(runId), dryRun);
  }

  append(path: string, text: string): void {
    if (text.length === 0) return;
    let writer = this.#open.get(path);
    if (!writer) {
      writer = new LogWriter(path, this.#maxBytes, this.#closing.get(path));
      this.#open.set(path, writer);
    }
    writer.append(Buffer.from(text, 'utf8'));
  }

  close(path: string): Promise<void> {
    const writer = this.#open.get(path);
    if (!writer) return Promise.resolve();
    this.#open.delete(path);
    this.#closing.set(path, writer);
    return writer.close().then(() => {
      if (this.#closing.get(path) === writer) this.#closing.delete(path);
    });
  }

  /** Closes every log once its writes have landed, those of logs already closing too. */
  async closeAll(): Promise<void> {
    const closing = [...this.#closing.values()].map((writer) => writer.close());
    await Promise.all([...closing, ...[...this.#open.keys()].map((path) => this.close(path))]);
  }
}

/**
 * Writes one log in order, at offsets it keeps itself. Past the cap, output is counted
 * and dropped, never kept in memory; one line after what was kept says how much, rewritten
 * in place as the count grows (it only gets longer, so nothing of an older one remains).
 */
class LogWriter {
  readonly #path: string;
  readonly #maxBytes: number;
  /** Bytes the file holds once the queued writes land, the marker line aside. */
  #kept: number;
  #dropped = 0;
  /** Whether the kept bytes end a line, so the marker starts one of its own. */
  #endsLine = true;
  #markerQueued = false;
  /** Kept bytes not yet written, and where in the file they start: one write takes them all. */
  #pending: Buffer[] = [];
  #pendingAt = 0;
  #warned = false;
  #queue: Promise<FileHandle | undefined>;

  constructor(path: string, maxBytes: number, previous?: LogWriter) {
    this.#path = path;
    this.#maxBytes = maxBytes;
    let before: Promise<unknown> = Promise.resolve();
    if (previous) {
      this.#kept = previous.#kept;
      this.#dropped = previous.#dropped;
      this.#endsLine = previous.#endsLine;
      before = previous.#queue;
    } else {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      ({ kept: this.#kept, dropped: this.#dropped } = reopened(path, maxBytes));
    }
    // Not O_APPEND, under which Linux would put the marker's rewrites at the end.
    this.#queue = before.then(() => open(path, constants.O_WRONLY | constants.O_CREAT, 0o600)).catch((error: Error) => {
      this.#warn(error);
      return undefined;
    });
  }

  append(text: Buffer): void {
    if (this.#dropped === 0 && this.#kept + text.length <= this.#maxBytes) {
      this.#write(text, this.#kept);
      this.#kept += text.length;
      this.#endsLine = text.at(-1) === 0x0a;
      return;
    }
    if (this.#dropped === 0) {
      const kept = text.subarray(0, wholeCharacters(text, Math.max(0, this.#maxBytes - this.#kept)));
      if (kept.length > 0) {
        this.#write(kept, this.#kept);
        this.#kept += kept.length;
        this.#endsLine = kept.at(-1) === 0x0a;
      }
      this.#dropped = text.length - kept.length;
    } else {
      this.#dropped += text.length;
    }
    if (this.#markerQueued) return;
    this.#markerQueued = true;
    // Queued once however many chunks are dropped before it runs; it writes the count then.
    this.#then(async (file) => {
      this.#markerQueued = false;
      const line = truncationMarker(this.#maxBytes, this.#dropped, this.#endsLine);
      await file.write(line, this.#kept, 'utf8');
    });
  }

  close(): Promise<void> {
    this.#queue = this.#queue.then(async (file) => {
      await file?.close().catch((error: Error) => this.#warn(error));
      return undefined;
    });
    return this.#queue.then(() => undefined);
  }

  #write(data: Buffer, position: number): void {
    if (this.#pending.length === 0) this.#pendingAt = position;
    this.#pending.push(data);
    if (this.#pending.length > 1) return;
    // Output arrives in many small chunks: whatever came before this job runs goes in one write.
    // A synchronous one: a write to the page cache takes microseconds, and handing it to the
    // thread pool cost the coordinator more than the write (a line per task in its worker's
    // log: about a tenth of a task's dispatch).
    this.#then(async (file) => {
      const at = this.#pendingAt;
      writevSync(file.fd, this.#pending.splice(0), at);
    });
  }

  #then(job: (file: FileHandle) => Promise<void>): void {
    this.#queue = this.#queue.then(async (file) => {
      if (file) await job(file).catch((error: Error) => this.#warn(error));
      return file;
    });
  }

  #warn(error: Error): void {
    if (this.#warned) return;
    this.#warned = true;
    process.emitWarning(`slipway: cannot write the log ${this.#path}: ${error.message}`);
  }
}

/**
 * Where a log opened again (after a restart, or after it was closed) goes on: after what it
 * holds or, when it was cut, in place of its marker line with its count. A marker is found
 * only where the cap put one, so a task cannot end its log with a line that looks like one.
 */
function reopened(path: string, maxBytes: number): { kept: number; dropped: number } {
  const size = statSync(path, { throwIfNoEntry: false })?.size ?? 0;
  if (size <= maxBytes) return { kept: size, dropped: 0 };
  const tail = Buffer.alloc(Math.min(size, 200));
  const fd = openSync(path, 'r');
  try {
    readSync(fd, tail, 0, tail.length, size - tail.length);
  } finally {
    closeSync(fd);
  }
  const marker = /\[slipway: log truncated at [^\n]*; (\d+) bytes dropped\]\n$/.exec(tail.toString('latin1'));
  // The kept bytes end at most 3 short of the cap (a character is never split) and the marker's own newline.
  const at = marker ? size - marker[0].length : -1;
  return marker && at >= maxBytes - 3 && at <= maxBytes + 1 ? { kept: at, dropped: Number(marker[1]) } : { kept: size, dropped: 0 };
}

/** The line that ends a log cut at `maxBytes`, after `dropped` bytes were dropped. */
export function truncationMarker(maxBytes: number, dropped: number, endsLine: boolean): string {
  return `${endsLine ? '' : '\n'}[slipway: log truncated at ${bytesText(maxBytes)} (server.max_log_bytes); ${dropped} bytes dropped]\n`;
}

function bytesText(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}
