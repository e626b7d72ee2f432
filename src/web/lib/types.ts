/**
 * The user API's objects, as docs/api.md defines them. The report's own types come from
 * the engine (plain types, no server dependency); what only the API adds is here.
 */
import type { AttemptOutcome, ReportAttempt, ReportFailure, RunReport, RunStatus, TaskStatus } from '../../engine/report.ts';

export type { Artifact } from '../../engine/report.ts';
import type { FleetWorker, PoolSummary, WorkerAttempt, WorkerState } from '../../engine/fleet-view.ts';

export type { AttemptOutcome, RunStatus, TaskStatus, WorkerAttempt, WorkerState };
export type { RunEvent } from '../../engine/events.ts';
export type Matrix = Record<string, string>;
export type Counts = Partial<Record<TaskStatus, number>>;

/** The report's run, with its tasks counted by status. */
export type Run = RunReport['run'] & { counts: Counts };

export type Attempt = ReportAttempt;

export interface Task {
  id: string;
  step: string;
  matrix: Matrix;
  status: TaskStatus;
  attempts: Attempt[];
}

export type Failure = ReportFailure;

export interface StepShape {
  name: string;
  over: string[];
  needs: string[];
  activity: string;
}

export interface RunDetail {
  run: Run;
  tasks: Task[];
  failures: Failure[];
  steps: StepShape[];
  matrix: Record<string, string[]>;
  /** The run's last event: the event stream resumes from there. */
  last_seq?: number;
}

/** A worker as `GET /api/v1/workers` shows it: its pool, machine, attempt in hand and cost so far. */
export type Worker = FleetWorker;

/** A pool as `GET /api/v1/pools` shows it: the runs it serves now, live workers, cap and queue. */
export type Pool = PoolSummary;

export interface Me {
  name: string;
  scopes: string[];
}

export const TASK_STATUSES: readonly TaskStatus[] = [
  'waiting', 'checking', 'queued', 'running', 'succeeded', 'failed', 'skipped', 'blocked', 'cancelled',
];

export const FINAL_TASK_STATUSES: ReadonlySet<TaskStatus> = new Set([
  'succeeded', 'failed', 'skipped', 'blocked', 'cancelled',
]);
