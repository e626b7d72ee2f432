import { sql } from 'kysely';
import type { TaskStatus } from '../../engine/report.ts';
import { lastEventSeq } from '../../store/event-history.ts';
import type { Db } from '../../store/store.ts';
import type { Changes } from '../changes.ts';
import type { RunSpec } from '../run-specs.ts';
import { markReady } from './settle-task.ts';

const reopened: TaskStatus[] = ['failed', 'blocked', 'cancelled'];

/** `since`: the run's last event before the rerun, so a follower can start after it. */
export type RerunResult = { kind: 'rerun'; tasks: number; since: number } | { kind: 'refused'; reason: string };

/**
 * Runs the failed, blocked and cancelled tasks of a finished run again, in the same run:
 * their attempts so far are kept, the next is numbered after them with the whole retry
 * policy ahead of it, and everything that succeeded or was skipped stays done.
 */
export async function rerun(trx: Db, spec: RunSpec, changes: Changes): Promise<RerunResult> {
  const run = await trx.selectFrom('runs').select(['status', 'budget_spent']).where('id', '=', spec.id).executeTakeFirstOrThrow();
  if (run.status === 'running') return { kind: 'refused', reason: `run ${spec.id} is still running` };
  // Its budget stays spent: whatever ran again would be stopped at once.
  if (run.budget_spent) return { kind: 'refused', reason: `run ${spec.id} stopped at its budget (${run.budget_spent}): start a new run, with a larger --budget` };
  const since = await lastEventSeq(trx, spec.id);
  const reopening = await trx.updateTable('tasks')
    .set({ status: 'waiting', error: null, not_before: null, active_attempt: null, retry_base: sql`attempts` })
    .where('run_id', '=', spec.id).where('status', 'in', reopened).executeTakeFirst();
  const count = Number(reopening.numUpdatedRows);
  if (count === 0) return { kind: 'refused', reason: `run ${spec.id} has no failed, blocked or cancelled task` };
  // A reopened task waits for the tasks it needs that are not done: those reopened with it.
  await sql`update tasks set pending_needs = (
      select count(*) from task_needs join tasks needed on needed.run_id = task_needs.run_id and needed.key = task_needs.needs_key
      where task_needs.run_id = tasks.run_id and task_needs.key = tasks.key and needed.status not in ('succeeded', 'skipped'))
    where run_id = ${spec.id} and status = 'waiting'`.execute(trx);
  await trx.updateTable('runs').set({ status: 'running', finished_at: null }).where('id', '=', spec.id).execute();
  changes.event(spec.id, 'run.started', { message: `rerun of ${count} task${count === 1 ? '' : 's'}` });
  const ready = await trx.selectFrom('tasks').select(['key', 'step'])
    .where('run_id', '=', spec.id).where('status', '=', 'waiting').where('pending_needs', '=', 0).orderBy('seq').execute();
  await markReady(trx, spec, ready, changes);
  return { kind: 'rerun', tasks: count, since };
}
