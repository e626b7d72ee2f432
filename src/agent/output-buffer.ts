/**
 * Batches streamed output so an agent sends a task's log to the coordinator in a few
 * requests instead of one per line. One flush runs at a time, in push order; while one
 * is in flight, new output accumulates into the next batch, so a slow coordinator gets
 * fewer, bigger requests rather than a queue of small ones.
 */
export interface OutputBatcherOptions {
  /** Delivers one batch. It should retry what it can; a rejection loses that batch. */
  flush: (text: string) => Promise<void>;
  /** Flush as soon as this many bytes (UTF-8) are pending; also the most one batch holds, unless a single chunk is bigger. */
  maxBytes?: number;
  /** Flush pending output at the latest this long after it arrived (or after the previous flush ended). */
  maxDelayMs?: number;
}

export class OutputBatcher {
  readonly #flush: (text: string) => Promise<void>;
  readonly #maxBytes: number;
  readonly #maxDelayMs: number;
  #pending: string[] = [];
  #pendingBytes = 0;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #closed = false;
  #error: { value: unknown } | undefined;

  constructor({ flush, maxBytes = 64 * 1024, maxDelayMs = 200 }: OutputBatcherOptions) {
    this.#flush = flush;
    this.#maxBytes = maxBytes;
    this.#maxDelayMs = maxDelayMs;
  }

  push(chunk: string): void {
    if (this.#closed) throw new Error('OutputBatcher: push after close');
    if (chunk === '') return;
    this.#pending.push(chunk);
    this.#pendingBytes += Buffer.byteLength(chunk);
    this.#schedule();
  }

  /**
   * Flushes everything pending and waits for it. Rejects with the first flush error, if
   * any, so the caller knows the log it sent is incomplete.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#schedule();
    while (this.#inFlight) await this.#inFlight;
    if (this.#error) throw this.#error.value;
  }

  #schedule(): void {
    // A flush in flight calls #schedule again when it ends.
    if (this.#inFlight || this.#pending.length === 0) return;
    if (this.#closed || this.#pendingBytes >= this.#maxBytes) this.#start();
    else this.#timer ??= setTimeout(() => this.#start(), this.#maxDelayMs);
  }

  #start(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const text = this.#take();
    // Calling flush inside then() turns a synchronous throw into a rejection too.
    this.#inFlight = Promise.resolve()
      .then(() => this.#flush(text))
      .catch((error: unknown) => {
        this.#error ??= { value: error };
      })
      .finally(() => {
        this.#inFlight = undefined;
        this.#schedule();
      });
  }

  /** Removes and returns the oldest pending chunks, up to maxBytes (at least one chunk). */
  #take(): string {
    let count = 0;
    let bytes = 0;
    for (const chunk of this.#pending) {
      const size = Buffer.byteLength(chunk);
      if (count > 0 && bytes + size > this.#maxBytes) break;
      count += 1;
      bytes += size;
    }
    this.#pendingBytes -= bytes;
    return this.#pending.splice(0, count).join('');
  }
}
