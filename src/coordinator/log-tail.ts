import type { RunReport } from '../engine/report.ts';
import type { Db } from '../store/store.ts';
import { attemptHasEnded } from '../store/attempt-rows.ts';
import type { Logs } from './logs.ts';

/** How often a followed log is read for new bytes once it has caught up, and how many at most each time. */
export const tailIntervalMs = 250;
const tailChunkBytes = 1024 * 1024;

/** What a followed log held past the last piece: `end` is where the next one starts (an SSE event's id). */
export interface LogPiece { text: string; end: number }

/**
 * An attempt's log as it grows, from `offset`, until the attempt has ended and its log has
 * been read to the end. A piece ends at a line's end when it can, so a line or a multi-byte
 * character is not split. Undefined is yielded whenever it has read all there is, before
 * `pause`: a follower with nothing to send may say it is alive there.
 */
export async function* tailAttemptLog(
  logs: Logs, db: Db, attemptId: string, path: string, offset: number, pause: () => Promise<unknown>,
): AsyncGenerator<LogPiece | undefined> {
  for (;;) {
    const ended = await attemptHasEnded(db, attemptId);
    // Output reaches the file just before the attempt ends: once it has, read on to the end.
    for (;;) {
      const buffer = await logs.read(path, offset, tailChunkBytes);
      if (buffer.length === 0) break;
      const cut = buffer.lastIndexOf(10) + 1 || buffer.length;
      offset += cut;
      yield { text: buffer.subarray(0, cut).toString('utf8'), end: offset };
      // A long log goes chunk after chunk; one that caught up waits for more.
      if (!ended && buffer.length < tailChunkBytes) break;
    }
    if (ended) return;
    yield undefined;
    await pause();
  }
}

/** What a failure quotes of its log: its last lines, at most this many, from at most this many bytes. */
const quotedLines = 5;
const quotedBytes = 2048;
/**
 * How many failures quote theirs: the run page asks for its report again as tasks end, and a
 * run of thousands of failed tasks would read thousands of logs each time for the first few it shows.
 */
const quotedFailures = 20;

/** The report with the log_tail of its first failures: the last lines each one's last attempt printed, which often say why. */
export async function withLogTails<R extends RunReport>(report: R, logs: Logs): Promise<R> {
  const failures = [];
  for (const [i, failure] of report.failures.entries()) {
    const last = i < quotedFailures ? report.tasks.find((task) => task.id === failure.task)?.attempts.at(-1) : undefined;
    const tail = last && await lastLines(logs, logs.attemptPath(report.run.id, last.id));
    failures.push(tail ? { ...failure, log_tail: tail } : failure);
  }
  return { ...report, failures };
}

async function lastLines(logs: Logs, path: string): Promise<string> {
  const size = await logs.size(path);
  const start = Math.max(0, size - quotedBytes);
  const text = (await logs.read(path, start, size - start)).toString('utf8');
  // A line cut by the start is left out, unless it is all there is.
  const whole = start > 0 && text.includes('\n') ? text.slice(text.indexOf('\n') + 1) : text;
  return whole.trimEnd().split('\n').slice(-quotedLines).join('\n');
}
