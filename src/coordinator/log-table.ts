import { appendLogChunk, deleteLogsUnder, lastLogChunk, logChunks, logState, recordLogDropped } from '../store/log-chunks.ts';
import type { Db } from '../store/store.ts';
import { wholeCharacters } from '../util/whole-characters.ts';
import { defaultMaxLogBytes, LogPaths, truncationMarker } from './log-files.ts';
import type { Logs } from './logs.ts';

/** A log is streamed in reads of 1 MiB. */
const streamChunkBytes = 1024 * 1024;
/** What a flush writes per row at most: a read of a range fetches whole rows. */
const rowBytes = 256 * 1024;

/**
 * The logs as rows of the store (PostgreSQL): each flush of a log is one statement that
 * adds a chunk at the log's end, so any coordinator on the store serves any log, and
 * several may write one (a worker's log hears from its starter, its health checker and
 * the coordinator it talks to). Writes are queued per log, as with files; past `maxBytes`
 * output is counted and dropped, and readers see the marker line the files would hold.
 */
export class LogTable implements Logs {
  readonly #db: Db;
  readonly #maxBytes: number;
  /** Paths in the store are relative to logs/; agents' own files are under `dir`. */
  readonly #paths = new LogPaths('');
  readonly #files: LogPaths;
  readonly #writers = new Map<string, LogRowWriter>();

  constructor(db: Db, dir: string, maxBytes = defaultMaxLogBytes) {
    this.#db = db;
    this.#files = new LogPaths(dir);
    this.#maxBytes = maxBytes;
  }

  attemptPath(runId: string, attemptId: string): string {
    return this.#paths.attemptPath(runId, attemptId);
  }

  workerPath(runId: string, workerId: string): string {
    return this.#paths.workerPath(runId, workerId);
  }

  poolPath(poolId: string): string {
    return this.#paths.poolPath(poolId);
  }

  agentPath(runId: string, workerId: string): string {
    return this.#files.agentPath(runId, workerId);
  }

  append(path: string, text: string): void {
    if (text.length === 0) return;
    let writer = this.#writers.get(path);
    if (!writer) {
      writer = new LogRowWriter(this.#db, path, this.#maxBytes);
      this.#writers.set(path, writer);
    }
    writer.append(text);
  }

  async close(path: string): Promise<void> {
    const writer = this.#writers.get(path);
    if (!writer) return;
    await writer.flushed();
    // Appended to while it flushed, it stays open.
    if (this.#writers.get(path) === writer && writer.idle) this.#writers.delete(path);
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.#writers.keys()].map((path) => this.close(path)));
  }

  async size(path: string): Promise<number> {
    const state = await logState(this.#db, path);
    if (!state) return 0;
    return state.kept + (await this.#marker(path, state.dropped)).length;
  }

  async read(path: string, start: number, length: number): Promise<Buffer> {
    const state = await logState(this.#db, path);
    if (!state) return Buffer.alloc(0);
    const marker = await this.#marker(path, state.dropped);
    const end = Math.min(start + length, state.kept + marker.length);
    const parts: Buffer[] = [];
    for (const chunk of await logChunks(this.#db, path, start, Math.min(end, state.kept))) {
      const bytes = Buffer.from(chunk.data, 'utf8');
      parts.push(bytes.subarray(Math.max(0, start - chunk.at), Math.min(bytes.length, end - chunk.at)));
    }
    if (end > state.kept) parts.push(marker.subarray(Math.max(0, start - state.kept), end - state.kept));
    return Buffer.concat(parts);
  }

  stream(path: string, start: number, end: number): ReadableStream<Uint8Array> {
    let at = start;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const chunk = at < end ? await this.read(path, at, Math.min(streamChunkBytes, end - at)) : Buffer.alloc(0);
        // A log cut shorter meanwhile (its run removed) ends the stream early rather than never.
        if (chunk.length === 0) {
          controller.close();
          return;
        }
        at += chunk.length;
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
      },
    }, { highWaterMark: 0 });
  }

  removeRun(runId: string, dryRun: boolean): Promise<number> {
    return deleteLogsUnder(this.#db, `${this.#paths.runPath(runId)}/`, dryRun);
  }

  async #marker(path: string, dropped: number): Promise<Buffer> {
    if (dropped === 0) return Buffer.alloc(0);
    const last = await lastLogChunk(this.#db, path);
    return Buffer.from(truncationMarker(this.#maxBytes, dropped, last === undefined || last.data.endsWith('\n')), 'utf8');
  }
}

/** One log's writes, in order: what arrives while a chunk is written goes in the next one. */
class LogRowWriter {
  readonly #db: Db;
  readonly #path: string;
  readonly #maxBytes: number;
  #pending: string[] = [];
  #queue: Promise<void> = Promise.resolve();
  /** What the store holds of the log, read before its first write here. */
  #state: { kept: number; dropped: number } | undefined;
  #warned = false;

  constructor(db: Db, path: string, maxBytes: number) {
    this.#db = db;
    this.#path = path;
    this.#maxBytes = maxBytes;
  }

  get idle(): boolean {
    return this.#pending.length === 0;
  }

  append(text: string): void {
    this.#pending.push(text);
    if (this.#pending.length === 1) this.#queue = this.#queue.then(() => this.#flush()).catch((error: Error) => this.#warn(error));
  }

  flushed(): Promise<void> {
    return this.#queue;
  }

  async #flush(): Promise<void> {
    this.#state ??= (await logState(this.#db, this.#path)) ?? { kept: 0, dropped: 0 };
    const state = this.#state;
    const text = Buffer.from(this.#pending.splice(0).join(''), 'utf8');
    const room = state.dropped > 0 ? 0 : Math.max(0, this.#maxBytes - state.kept);
    const kept = text.length <= room ? text : text.subarray(0, wholeCharacters(text, room));
    for (let from = 0; from < kept.length;) {
      const piece = kept.subarray(from, from + (wholeCharacters(kept.subarray(from), rowBytes) || kept.length - from));
      state.kept = (await appendLogChunk(this.#db, this.#path, piece.toString('utf8'), piece.length)) + piece.length;
      from += piece.length;
    }
    if (kept.length < text.length) {
      state.dropped += text.length - kept.length;
      await recordLogDropped(this.#db, this.#path, state.dropped);
    }
  }

  #warn(error: Error): void {
    if (this.#warned) return;
    this.#warned = true;
    process.emitWarning(`slipway: cannot write the log ${this.#path} to the store: ${error.message}`);
  }
}
