import { openTaskStatuses } from '../../engine/task-state.ts';
import type { Db } from '../../store/store.ts';
import { spentByRun } from '../../store/run-spend.ts';
import { formatUsd } from '../../util/money.ts';
import type { Changes } from '../changes.ts';
import type { RunSpec } from '../run-specs.ts';
import { finishRunIfDone } from './settle-task.ts';

/**
 * A run whose budget is spent starts nothing more: it records why (once, whichever
 * coordinator finds it), says so, and every task not running now fails saying so, in one
 * statement. Running tasks finish and count; no retry or queued task of the run follows
 * them (see budgetSpentNow), and the run ends with the last of them. False when the run had
 * already stopped at its budget, or ended.
 */
async function stopAtBudget(trx: Db, runId: string, why: string, changes: Changes): Promise<boolean> {
  const stopped = await trx.updateTable('runs').set({ budget_spent: why })
    .where('id', '=', runId).where('status', '=', 'running').where('budget_spent', 'is', null).executeTakeFirst();
  if (Number(stopped.numUpdatedRows) === 0) return false;
  changes.event(runId, 'run.capped', { message: why });
  const error = notStarted(why);
  const waiting = await trx.updateTable('tasks').set({ status: 'failed', error })
    .where('run_id', '=', runId).where('status', 'in', openTaskStatuses).where('active_attempt', 'is', null)
    .returning('key').execute();
  changes.eventBatch(runId, waiting.map(({ key }) => ({ kind: 'task.failed' as const, task: key, message: error })));
  await finishRunIfDone(trx, runId, changes);
  return true;
}

/**
 * Why no task of the run may start any more: its budget was spent, or is now (and the run
 * stops at it here). Undefined while it is not, and at no cost for a run without a budget.
 */
export async function budgetSpentNow(trx: Db, spec: RunSpec, changes: Changes): Promise<string | undefined> {
  const budget = budgetOf(spec);
  if (budget === undefined) return undefined;
  const row = await trx.selectFrom('runs').select('budget_spent').where('id', '=', spec.id).executeTakeFirst();
  if (row?.budget_spent) return row.budget_spent;
  const spent = await spentByRun(trx, spec.id, changes.now) ?? 0;
  if (spent < budget) return undefined;
  const why = budgetSpentWhy(budget, spent);
  await stopAtBudget(trx, spec.id, why, changes);
  return why;
}

/** What the run may spend: `--budget`, else the pipeline's budget_usd. */
export function budgetOf(spec: Pick<RunSpec, 'options' | 'pipeline'>): number | undefined {
  return spec.options.budgetUsd ?? spec.pipeline.budgetUsd;
}

/** Why a run stops at its budget. */
function budgetSpentWhy(budgetUsd: number, spentUsd: number): string {
  return `the run's budget of ${formatUsd(budgetUsd)} is spent (${formatUsd(spentUsd)} on machines so far): no new task starts; running ones finish`;
}

/** The error of a task its run's spent budget kept from starting. */
export function notStarted(why: string): string {
  return `not started: ${why}`;
}
