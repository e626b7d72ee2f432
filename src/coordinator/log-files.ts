import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * One log per attempt and one per worker, under `logs/<run>/`. File names are our own
 * ids, never task keys or other user text. Writes are buffered streams, kept open while a
 * log is live, so the dispatch path never waits on the disk.
 */
export class LogFiles {
  readonly #root: string;
  readonly #open = new Map<string, WriteStream>();

  constructor(root: string) {
    this.#root = root;
  }

  attemptPath(runId: string, attemptId: string): string {
    return join(this.#root, runId, 'attempts', `${attemptId}.log`);
  }

  workerPath(runId: string, workerId: string): string {
    return join(this.#root, runId, 'workers', `${workerId}.log`);
  }

  /** Where a local agent process writes its own diagnostics (crashes before it can report). */
  agentPath(runId: string, workerId: string): string {
    return join(this.#root, runId, 'workers', `${workerId}.agent.log`);
  }

  append(path: string, text: string): void {
    if (text.length === 0) return;
    this.#stream(path).write(text);
  }

  close(path: string): Promise<void> {
    const stream = this.#open.get(path);
    if (!stream) return Promise.resolve();
    this.#open.delete(path);
    return new Promise((resolve) => stream.end(resolve));
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.#open.keys()].map((path) => this.close(path)));
  }

  #stream(path: string): WriteStream {
    let stream = this.#open.get(path);
    if (!stream) {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      stream = createWriteStream(path, { flags: 'a', mode: 0o600 });
      stream.on('error', (error) => process.emitWarning(`slipway: cannot write the log ${path}: ${error.message}`));
      this.#open.set(path, stream);
    }
    return stream;
  }
}
