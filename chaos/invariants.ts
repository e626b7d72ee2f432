import type { RunReport } from '../src/engine/report.ts';

const finalTaskStates = new Set(['succeeded', 'failed', 'skipped', 'blocked', 'cancelled']);
const liveWorkerStates = new Set(['starting', 'idle', 'busy', 'draining']);

export interface RunVerdict {
  /** Tasks that did not end in a final state, or whose state their attempts do not bear out. */
  lost: string[];
  /** Broken promises other than lost tasks, each said in a sentence. */
  violations: string[];
}

/**
 * What must hold of a run however it was treated: every task ends final and as its attempts
 * say (succeeded by exactly one successful attempt, the last; failed by none), no attempt is
 * left open, and no worker of the run is still recorded as alive.
 */
export function checkRun(report: RunReport, workers: { id: string; state: string }[]): RunVerdict {
  const lost: string[] = [];
  const violations: string[] = [];
  if (report.run.status === 'running') violations.push(`run ${report.run.id} is still running`);
  for (const task of report.tasks) {
    const runs = task.attempts;
    const successes = runs.filter((a) => a.outcome === 'succeeded');
    if (!finalTaskStates.has(task.status)) {
      lost.push(`${task.id}: still ${task.status}`);
      continue;
    }
    if (task.status === 'succeeded' && (successes.length === 0 || runs.at(-1)?.outcome !== 'succeeded')) {
      lost.push(`${task.id}: succeeded, but its attempts are ${runs.map((a) => a.outcome).join(', ') || 'none'}`);
    }
    if (successes.length > 1) violations.push(`${task.id} ran to success ${successes.length} times`);
    if (task.status === 'failed' && successes.length > 0) violations.push(`${task.id} failed although an attempt succeeded`);
    for (const attempt of runs) {
      if (attempt.outcome === null) violations.push(`${task.id} attempt ${attempt.number} never ended`);
    }
  }
  for (const worker of workers) {
    if (liveWorkerStates.has(worker.state)) violations.push(`worker ${worker.id} of run ${report.run.id} is still recorded as ${worker.state}`);
  }
  return { lost, violations };
}
