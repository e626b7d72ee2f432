import type { Selection, Step } from '../pipeline/types.ts';
import type { AttemptOutcome, RunStatus, TaskStatus } from './report.ts';

export const finalTaskStatuses: readonly TaskStatus[] = ['succeeded', 'failed', 'skipped', 'blocked', 'cancelled'];
export const openTaskStatuses: readonly TaskStatus[] = ['waiting', 'checking', 'queued', 'running'];

export function isFinal(status: TaskStatus): boolean {
  return finalTaskStatuses.includes(status);
}

/** Where a task goes once nothing it needs is pending: a done_if check first, unless forced. */
export function whenReady(step: Step, selection: Selection): { status: 'checking' | 'queued'; pool: string } {
  if (step.doneIf && !selection.force) return { status: 'checking', pool: step.doneIf.activity };
  return { status: 'queued', pool: step.activity };
}

export type AfterCheck = { status: 'skipped' } | { status: 'queued' } | { status: 'checking' };

/**
 * A done_if check says done with exit 0 and not done with any other exit. A check that
 * never finished (lost, timed out) says nothing, so it is asked again, up to a limit after
 * which the task runs: running work twice is safer than skipping it wrongly.
 */
export function afterCheck(outcome: AttemptOutcome, checks: number, maxChecks = 3): AfterCheck {
  if (outcome === 'succeeded') return { status: 'skipped' };
  if (outcome === 'failed') return { status: 'queued' };
  return checks < maxChecks ? { status: 'checking' } : { status: 'queued' };
}

/** A run is over when no task is open; it failed if any task failed. */
export function runStatusOf(counts: Partial<Record<TaskStatus, number>>, cancelled: boolean): RunStatus {
  if (openTaskStatuses.some((s) => (counts[s] ?? 0) > 0)) return cancelled ? 'cancelled' : 'running';
  if (cancelled) return 'cancelled';
  if ((counts.failed ?? 0) > 0 || (counts.blocked ?? 0) > 0) return 'failed';
  return 'succeeded';
}
