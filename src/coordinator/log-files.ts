import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * One log per attempt and one per worker, under `logs/<run>/`. File names are our own
 * ids, never task keys or other user text. Descriptors stay open while a stream is live.
 */
export class LogFiles {
  readonly #root: string;
  readonly #open = new Map<string, number>();

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
    writeSync(this.#fd(path), text);
  }

  close(path: string): void {
    const fd = this.#open.get(path);
    if (fd === undefined) return;
    this.#open.delete(path);
    closeSync(fd);
  }

  closeAll(): void {
    for (const path of [...this.#open.keys()]) this.close(path);
  }

  #fd(path: string): number {
    let fd = this.#open.get(path);
    if (fd === undefined) {
      mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
      fd = openSync(path, 'a', 0o600);
      this.#open.set(path, fd);
    }
    return fd;
  }
}
