/**
 * The user API's objects, as docs/api.md defines them. The report's own types come from
 * the engine (plain types, no server dependency); what only the API adds is here.
 */
import type { AttemptOutcome, ReportAttempt, RunReport, RunStatus, TaskStatus } from '../../engine/report.ts';

export type { AttemptOutcome, RunStatus, TaskStatus };
export type { RunEvent } from '../../engine/events.ts';
export type WorkerState = 'starting' | 'idle' | 'busy' | 'draining' | 'stopped' | 'lost' | 'failed';
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

export interface Failure {
  task: string;
  step: string;
  matrix: Matrix;
  worker: string | null;
  error: string;
}

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

export interface Worker {
  id: string;
  name: string;
  run: string;
  activity: string;
  provider: string;
  state: WorkerState;
  tasks_done: number;
  started_at: string;
  stopped_at: string | null;
  stop_reason: string | null;
}

export interface Activity {
  run: string;
  name: string;
  provider: string;
  max_workers: number;
  live: number;
  queued: number;
}


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
