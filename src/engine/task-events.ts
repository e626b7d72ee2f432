import type { RunEventKind } from './events.ts';
import type { TaskStatus } from './report.ts';

/**
 * The status a task event leaves its task in. Whoever follows a run by its events (the
 * CLI's progress view, the web UI) moves tasks with it instead of asking again.
 */
const statusAfterEvent: Partial<Record<RunEventKind, TaskStatus>> = {
  'task.checking': 'checking',
  'task.queued': 'queued',
  'task.started': 'running',
  // The next attempt waits out its delay and is then handed out like any ready task.
  'task.retrying': 'queued',
  'task.succeeded': 'succeeded',
  'task.failed': 'failed',
  'task.skipped': 'skipped',
  'task.blocked': 'blocked',
  'task.cancelled': 'cancelled',
};

export function statusAfter(kind: string): TaskStatus | undefined {
  return statusAfterEvent[kind as RunEventKind];
}
