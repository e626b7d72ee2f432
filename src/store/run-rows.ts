import type { TaskStatus } from '../engine/report.ts';
import type { Db } from './store.ts';

/** A run's id with its pipeline as it was submitted: what the API's run detail is built from. */
export interface RunWithSpec {
  id: string;
  /** The pipeline as JSON. */
  spec: string;
}

/** The run with this exact id, if the store has it; the caller checks the id's form. */
export async function runWithSpec(db: Db, runId: string): Promise<RunWithSpec | undefined> {
  return db.selectFrom('runs').select(['id', 'spec']).where('id', '=', runId).executeTakeFirst();
}

/** The name of a run's pipeline, for the progress display of a rerun. */
export async function pipelineOfRun(db: Db, runId: string): Promise<string> {
  const row = await db.selectFrom('runs').select('pipeline').where('id', '=', runId).executeTakeFirst();
  if (!row) throw new Error(`no run ${runId}`);
  return row.pipeline;
}

/** Each task of a run with its status, in the order the run created them: the progress display's rows. */
export async function taskStatusesOfRun(db: Db, runId: string): Promise<{ key: string; status: TaskStatus }[]> {
  return db.selectFrom('tasks').select(['key', 'status']).where('run_id', '=', runId).orderBy('seq').execute();
}
