import { appendLogPieces, deleteLogsUnder, lastLogChunk, logChunks, logState, logStates, recordLogDropped, type LogPiece } from '../store/log-chunks.ts';
import type { Db } from '../store/store.ts';
import { wholeCharacters } from '../util/whole-characters.ts';
import { defaultMaxLogBytes, LogPaths, truncationMarker } from './log-files.ts';
import type { Logs } from './logs.ts';

/** A log is streamed in reads of 1 MiB. */
const streamChunkBytes = 1024 * 1024;
/** What a flush writes per row at most: a read of a range fetches whole rows. */
const rowBytes = 256 * 1024;

/**
 * The logs as rows of the store (PostgreSQL), so any coordinator on the store serves any
 * log, and several may write one (a worker's log hears from its starter, its health
 * checker and the coordinator it talks to). What is appended in one turn of the event
 * loop, to any log, is written in one statement, and what comes while it is written in the
 * next: a busy coordinator pays one statement for many tasks' output. Past `maxBytes`
 * output is counted and dropped, and readers see the marker line the files would hold.
 */
export class LogTable extends LogPaths implements Logs {
  readonly #db: Db;
  readonly #maxBytes: number;
  /** Where agents' own files are: paths in the store are relative to logs/. */
  readonly #files: LogPaths;
  /** Text appended and not yet written, by log, in order. */
  #pending = new Map<string, string[]>();
  /** What the store holds of the logs written here, read before the first write of each. */
  readonly #states = new Map<string, { kept: number; dropped: number }>();
  /** The flush under way; while it runs, appends wait for the next one. */
  #flushing: Promise<void> | undefined;
  #warned = false;

  constructor(db: Db, dir: string, maxBytes = defaultMaxLogBytes) {
    super('');
    this.#db = db;
    this.#files = new LogPaths(dir);
    this.#maxBytes = maxBytes;
  }

  override agentPath(runId: string, workerId: string): string {
    return this.#files.agentPath(runId, workerId);
  }

  append(path: string, text: string): void {
    if (text.length === 0) return;
    const pending = this.#pending.get(path);
    if (pending) pending.push(text);
    else this.#pending.set(path, [text]);
    if (this.#flushing) return;
    // What arrives in the same turn of the event loop, for any log, goes in one statement.
    this.#flushing = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#drain());
  }

  /** Waits for what was appended to the log to be written; what the store holds of it is read again next time. */
  async close(path: string): Promise<void> {
    await this.#flushing;
    if (!this.#pending.has(path)) this.#states.delete(path);
  }

  async closeAll(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    this.#states.clear();
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
    return deleteLogsUnder(this.#db, `${this.runPath(runId)}/`, dryRun);
  }

  async #marker(path: string, dropped: number): Promise<Buffer> {
    if (dropped === 0) return Buffer.alloc(0);
    const last = await lastLogChunk(this.#db, path);
    return Buffer.from(truncationMarker(this.#maxBytes, dropped, last === undefined || last.data.endsWith('\n')), 'utf8');
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending.size > 0) {
        const batch = this.#pending;
        this.#pending = new Map();
        await this.#write(batch).catch((error: Error) => this.#warn(error));
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  /** Writes what each log of `batch` keeps under the cap, all in one statement, and counts what it drops. */
  async #write(batch: Map<string, string[]>): Promise<void> {
    const unknown = [...batch.keys()].filter((path) => !this.#states.has(path));
    const found = new Map((await logStates(this.#db, unknown)).map((row) => [row.path, row]));
    for (const path of unknown) this.#states.set(path, found.get(path) ?? { kept: 0, dropped: 0 });
    const pieces: LogPiece[] = [];
    const dropped: string[] = [];
    for (const [path, texts] of batch) {
      const state = this.#states.get(path)!;
      const text = Buffer.from(texts.join(''), 'utf8');
      const room = state.dropped > 0 ? 0 : Math.max(0, this.#maxBytes - state.kept);
      const kept = text.length <= room ? text : text.subarray(0, wholeCharacters(text, room));
      // Rows of at most rowBytes, of whole characters: a read of a range fetches whole rows.
      for (let offset = 0; offset < kept.length;) {
        const piece = kept.subarray(offset, offset + (wholeCharacters(kept.subarray(offset), rowBytes) || kept.length - offset));
        pieces.push({ path, total: kept.length, offset, data: piece.toString('utf8') });
        offset += piece.length;
      }
      if (kept.length < text.length) {
        state.dropped += text.length - kept.length;
        dropped.push(path);
      }
    }
    for (const [path, kept] of await appendLogPieces(this.#db, pieces)) this.#states.get(path)!.kept = kept;
    for (const path of dropped) await recordLogDropped(this.#db, path, this.#states.get(path)!.dropped);
  }

  #warn(error: Error): void {
    if (this.#warned) return;
    this.#warned = true;
    process.emitWarning(`slipway: cannot write logs to the store: ${error.message}`);
  }
}
