import type { SourceOrigin } from '../../engine/report.ts';
import type { Pipeline, Selection, TaskSpec } from '../../pipeline/types.ts';
import { hashSecret, newSecret } from '../../util/ids.ts';
import { insertWithFreshId } from '../../store/fresh-id.ts';
import type { TasksTable } from '../../store/schema.ts';
import type { Db } from '../../store/store.ts';
import type { Changes } from '../changes.ts';
import type { RunOptions } from '../run-options.ts';
import { formatUsd } from '../../util/money.ts';
import { budgetOf } from './spend-budget.ts';
import type { RunSpec } from '../run-specs.ts';
import { markReady } from './settle-task.ts';

const rowsPerInsert = 400;

export interface CreatedRun {
  spec: RunSpec;
  /** Lets hand-started workers join this run; shown once, stored hashed. */
  joinToken: string;
}

/**
 * Writes a run and all its tasks; those that need nothing go straight to their check or queue.
 * `notes`: what its start tells besides its task count (secrets its steps cannot have now).
 */
export async function createRun(
  trx: Db, pipeline: Pipeline, tasks: TaskSpec[], selection: Selection, options: RunOptions,
  sourceDigest: string | null, origin: SourceOrigin | null, pools: Record<string, string>, notes: readonly string[], changes: Changes,
): Promise<CreatedRun> {
  const joinToken = newSecret();
  const budget = budgetOf({ options, pipeline });
  const revision = { revision: origin?.revision ?? null, branch: origin?.branch ?? null, repository: origin?.repository ?? null };
  const id = await insertWithFreshId('r', (fresh) => trx.insertInto('runs').values({
    id: fresh,
    pipeline: pipeline.name,
    status: 'running',
    spec: JSON.stringify(pipeline),
    selection: JSON.stringify(selection),
    options: JSON.stringify(options),
    source_dir: pipeline.sourceDir,
    source_digest: sourceDigest,
    source_vcs: origin?.vcs ?? null,
    source_repository: origin?.repository ?? null,
    source_revision: origin?.revision ?? null,
    source_branch: origin?.branch ?? null,
    source_base: origin?.base ?? null,
    source_author: origin?.author ?? null,
    source_message: origin?.message ?? null,
    source_try: origin?.try ? 1 : 0,
    join_token_hash: hashSecret(joinToken),
    created_at: changes.now,
    finished_at: null,
    budget_usd: budget ?? null,
  }).onConflict((oc) => oc.column('id').doNothing()).executeTakeFirst());
  const spec: RunSpec = { id, pipeline, selection, options, sourceDigest, revision, pools, ...(origin?.try && { isTry: true }) };
  await trx.insertInto('run_pools').values(Object.entries(pools).map(([activity, poolId]) => ({ run_id: id, activity, pool_id: poolId }))).execute();
  const told = [`${tasks.length} tasks${budget === undefined ? '' : `, a budget of ${formatUsd(budget)}`}`, ...notes];
  changes.event(id, 'run.started', { message: told.join('; ') });

  const taskRows = tasks.map((task, seq): TasksTable => ({
    run_id: id,
    key: task.key,
    seq,
    step: task.step,
    matrix: JSON.stringify(task.matrix),
    status: 'waiting',
    pool: pipeline.steps[task.step]!.activity,
    pending_needs: task.needs.length,
    attempts: 0,
    retry_base: 0,
    checks: 0,
    active_attempt: null,
    not_before: null,
    error: null,
  }));
  for (let i = 0; i < taskRows.length; i += rowsPerInsert) {
    await trx.insertInto('tasks').values(taskRows.slice(i, i + rowsPerInsert)).execute();
  }
  const needRows = tasks.flatMap((task) => task.needs.map((needs) => ({ run_id: id, key: task.key, needs_key: needs })));
  for (let i = 0; i < needRows.length; i += rowsPerInsert) {
    await trx.insertInto('task_needs').values(needRows.slice(i, i + rowsPerInsert)).execute();
  }
  await markReady(trx, spec, tasks.filter((t) => t.needs.length === 0), changes);
  return { spec, joinToken };
}
