import type { Artifact } from '../engine/report.ts';
import type { Db } from './store.ts';

export type { Artifact } from '../engine/report.ts';

export interface ArtifactRecord extends Artifact {
  run: string;
  attempt: string;
}

/** Records an uploaded file; the same attempt sending the same path again (a repeated request) replaces it. */
export async function recordArtifact(db: Db, artifact: ArtifactRecord): Promise<void> {
  const { run, attempt, task, ...rest } = artifact;
  await db.insertInto('artifacts').values({ run_id: run, task_key: task, attempt_id: attempt, ...rest })
    .onConflict((conflict) => conflict.columns(['run_id', 'task_key', 'attempt_id', 'path']).doUpdateSet({
      size: rest.size, sha256: rest.sha256, content_type: rest.content_type, created_at: rest.created_at,
    }))
    .execute();
}

type Row = Artifact & { number: number };

/**
 * What each task kept: the files of its latest successful attempt (a rerun's replace an
 * earlier one's; a failed attempt's uploads count for nothing). In task and path order.
 */
export async function keptArtifacts(db: Db, runId: string, taskKey?: string): Promise<Artifact[]> {
  const rows = await db.selectFrom('artifacts').innerJoin('attempts', 'attempts.id', 'artifacts.attempt_id')
    .select(columns).where('artifacts.run_id', '=', runId).where('attempts.outcome', '=', 'succeeded')
    .$if(taskKey !== undefined, (query) => query.where('artifacts.task_key', '=', taskKey!))
    .orderBy('artifacts.task_key').orderBy('artifacts.path').execute();
  return latestAttempts(rows);
}

/** The artifacts of the tasks `taskKey` needs: what its attempts find under $SLIPWAY_INPUTS. */
export async function neededArtifacts(db: Db, runId: string, taskKey: string): Promise<Artifact[]> {
  const rows = await db.selectFrom('task_needs')
    .innerJoin('artifacts', (join) => join.onRef('artifacts.run_id', '=', 'task_needs.run_id').onRef('artifacts.task_key', '=', 'task_needs.needs_key'))
    .innerJoin('attempts', 'attempts.id', 'artifacts.attempt_id')
    .select(columns).where('task_needs.run_id', '=', runId).where('task_needs.key', '=', taskKey).where('attempts.outcome', '=', 'succeeded')
    .orderBy('artifacts.task_key').orderBy('artifacts.path').execute();
  return latestAttempts(rows);
}

/** Whether a run has an artifact with these bytes: what lets a worker with an attempt of it fetch them. */
export async function runHasBlob(db: Db, runId: string, sha256: string): Promise<boolean> {
  const row = await db.selectFrom('artifacts').select('run_id').where('sha256', '=', sha256).where('run_id', '=', runId).limit(1).executeTakeFirst();
  return row !== undefined;
}

const columns = [
  'artifacts.task_key as task', 'artifacts.path', 'artifacts.size', 'artifacts.sha256', 'artifacts.content_type',
  'artifacts.created_at', 'artifacts.expires_at', 'attempts.number',
] as const;

function latestAttempts(rows: Row[]): Artifact[] {
  const latest = new Map<string, number>();
  for (const row of rows) latest.set(row.task, Math.max(latest.get(row.task) ?? 0, row.number));
  return rows.filter((row) => row.number === latest.get(row.task)).map(({ number: _, ...artifact }) => ({ ...artifact, size: Number(artifact.size) }));
}
