import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { checkedId } from '../util/ids.ts';

/**
 * One log per attempt and one per worker, under `logs/<run>/`. File names are our own
 * ids, never task keys or other user text; each id is checked against its exact shape
 * here too, so no caller can make a path out of `logs/`. Writes are buffered streams,
 * kept open while a log is live, so the dispatch path never waits on the disk.
 */
export class LogFiles {
  readonly #root: string;
  readonly #open = new Map<string, WriteStream>();

  constructor(root: string) {
    this.#root = root;
  }

  attemptPath(runId: string, attemptId: string): string {
    return join(this.#root, checkedId('run', runId), 'attempts', `${checkedId('attempt', attemptId)}.log`);
  }

  workerPath(runId: string, workerId: string): string {
    return join(this.#root, checkedId('run', runId), 'workers', `${checkedId('worker', workerId)}.log`);
  }

  /** Where a local agent process writes its own diagnostics (crashes before it can report). */
  agentPath(runId: string, workerId: string): string {
    return join(this.#root, checkedId('run', runId), 'workers', `${checkedId('worker', workerId)}.agent.log`);
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
