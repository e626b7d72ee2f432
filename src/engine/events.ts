import type { RunStatus } from './report.ts';

/**
 * Every change to a run leaves an event. The store keeps them (the timeline), the CLI
 * renders them as progress, the UI streams them.
 */
export type RunEventKind =
  | 'run.started'
  | 'run.finished'
  | 'run.capped'      // a spend cap holds it back: its pool's max_hourly_usd, or its budget
  | 'task.checking'   // its done_if check was queued
  | 'task.queued'     // ready to run, waiting for a worker
  | 'task.started'    // an attempt began on a worker
  | 'task.retrying'   // an attempt ended badly; another will follow after a delay
  | 'task.succeeded'
  | 'task.failed'
  | 'task.skipped'    // done_if said it was already done, or outside the selection
  | 'task.blocked'    // a task it needs failed
  | 'task.cancelled'
  | 'worker.starting' // the provider was asked for a machine
  | 'worker.registered'
  | 'worker.stopping' // drained: it finishes the attempt in hand, then stops
  | 'worker.stopped'
  | 'worker.lost';

export interface RunEvent {
  seq: number;
  /** ISO-8601 time. */
  at: string;
  run: string;
  kind: RunEventKind;
  /** The task key, for task events. */
  task?: string;
  /** The worker's stable id (`w-…`), for worker events and attempts. */
  worker?: string;
  /** The worker's current `ww-`/`wa-` name. */
  worker_name?: string;
  /** Attempt number, for task.started / task.retrying / task.failed / task.succeeded. */
  attempt?: number;
  /** A short human explanation: an error, a reason, a status. */
  message?: string;
}

/** The status a `run.finished` event records: its message starts with it ("succeeded: 3 succeeded"). */
export function finishedStatus(event: RunEvent): RunStatus {
  return event.message?.split(':')[0] as RunStatus;
}
