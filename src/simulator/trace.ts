import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

/** One task of a trace of CI load: when it was created, how long it ran, in which pool, for which run. */
export interface TraceTask {
  /** Milliseconds since the trace's start. */
  at: number;
  /** Milliseconds. */
  duration: number;
  pool: string;
  run: string;
}

/** A trace that cannot be replayed: where and what. */
export class TraceError extends Error {}

const fields = ['at', 'duration', 'pool', 'run'] as const;

/**
 * The tasks of a trace file: JSON lines, one task per line, sorted by `at` (blank lines
 * are skipped). Each line is checked, and a bad one refused as FILE:LINE and what is wrong.
 */
export async function readTrace(file: string): Promise<TraceTask[]> {
  const tasks: TraceTask[] = [];
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let number = 0;
  try {
    for await (const line of lines) {
      number += 1;
      if (line.trim() === '') continue;
      const task = traceTask(line, `${file}:${number}`);
      const previous = tasks.at(-1);
      if (previous && task.at < previous.at) throw new TraceError(`${file}:${number}: at ${task.at} comes before the previous line's ${previous.at}: a trace is sorted by at`);
      tasks.push(task);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new TraceError(`${file}: no such file`);
    throw error;
  }
  if (tasks.length === 0) throw new TraceError(`${file}: no tasks (a trace has one JSON object per line: {"at": ms, "duration": ms, "pool": "linux", "run": "push-1"})`);
  return tasks;
}

function traceTask(line: string, where: string): TraceTask {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new TraceError(`${where}: not JSON (${(error as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TraceError(`${where}: a task is a JSON object with ${fields.join(', ')}`);
  const record = value as Record<string, unknown>;
  for (const name of ['at', 'duration'] as const) {
    const n = record[name];
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw new TraceError(`${where}: ${name} must be a number of milliseconds, 0 or more (got ${JSON.stringify(n)})`);
  }
  for (const name of ['pool', 'run'] as const) {
    const s = record[name];
    if (typeof s !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(s)) throw new TraceError(`${where}: ${name} must be a name of letters, digits, '.', '_' or '-' (got ${JSON.stringify(s)})`);
  }
  return { at: record.at as number, duration: record.duration as number, pool: record.pool as string, run: record.run as string };
}
