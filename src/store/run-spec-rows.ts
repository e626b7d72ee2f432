import type { Db } from './store.ts';

/** What a run was created with, as stored (JSON text), and the pool of each of its activities. */
export interface RunSpecRows {
  id: string;
  spec: string;
  selection: string;
  options: string;
  source_digest: string | null;
  source_vcs: 'git' | 'hg' | null;
  source_repository: string | null;
  source_revision: string | null;
  source_branch: string | null;
  /** 1 for a try. */
  source_try: number;
  pools: { activity: string; pool_id: string }[];
}

export async function runSpecRows(db: Db, runId: string): Promise<RunSpecRows> {
  const row = await db.selectFrom('runs').select(['id', 'spec', 'selection', 'options', 'source_digest', 'source_vcs', 'source_repository', 'source_revision', 'source_branch', 'source_try'])
    .where('id', '=', runId).executeTakeFirstOrThrow();
  const pools = await db.selectFrom('run_pools').select(['activity', 'pool_id']).where('run_id', '=', runId).execute();
  return { ...row, pools };
}
