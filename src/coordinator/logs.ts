/**
 * The logs of attempts, workers and pools, by their path under `logs/`: files in the state
 * directory on a SQLite store, which lives on one machine; tables of the store on
 * PostgreSQL, so that every coordinator on it serves every log (a worker's output reaches
 * the one it talks to). Agents' own diagnostics stay files on the machine either way.
 */
export interface Logs {
  attemptPath(runId: string, attemptId: string): string;
  workerPath(runId: string, workerId: string): string;
  poolPath(poolId: string): string;
  /** A file on this machine, where a local agent process writes itself. */
  agentPath(runId: string, workerId: string): string;
  /** Queued: the dispatch path never waits for a log. */
  append(path: string, text: string): void;
  close(path: string): Promise<void>;
  closeAll(): Promise<void>;
  /** Bytes the log holds now (the cap's marker line included); 0 for one not written. */
  size(path: string): Promise<number>;
  /** Up to `length` bytes from `start`. */
  read(path: string, start: number, length: number): Promise<Buffer>;
  /** Bytes `start` to `end` (excluded), streamed as the reader takes them, never read whole into memory. */
  stream(path: string, start: number, end: number): ReadableStream<Uint8Array>;
  /** Removes a run's logs (unless `dryRun`); returns the bytes they held. */
  removeRun(runId: string, dryRun: boolean): Promise<number>;
}

