import type { Pipeline, Selection } from '../pipeline/types.ts';
import { runSpecRows } from '../store/run-spec-rows.ts';
import type { Db } from '../store/store.ts';
import type { RunOptions } from './run-options.ts';

export interface RevisionOfRun {
  revision: string | null;
  branch: string | null;
  repository: string | null;
}

export interface RunSpec {
  id: string;
  pipeline: Pipeline;
  selection: Selection;
  options: RunOptions;
  sourceDigest: string | null;
  /** What tasks are told of the source's revision (SLIPWAY_REVISION and the like); null fields when nothing is known. */
  revision: RevisionOfRun;
  /** The pool of each activity: its workers serve every run with an activity in the same pool. */
  pools: Record<string, string>;
  /** A try (slipway try): its steps get only the secrets `[secrets] try` allows. */
  isTry?: boolean;
}

/** Parsed run specs by id: the dispatch path reads them on every claim. Immutable once written. */
export class RunSpecs {
  readonly #cache = new Map<string, RunSpec>();

  remember(spec: RunSpec): void {
    this.#cache.set(spec.id, spec);
  }

  /** The spec if it was read already: the worker protocol reads it before anything else. */
  cached(runId: string): RunSpec | undefined {
    return this.#cache.get(runId);
  }

  async get(db: Db, runId: string): Promise<RunSpec> {
    return this.cached(runId) ?? this.#read(db, runId);
  }

  async #read(db: Db, runId: string): Promise<RunSpec> {
    const row = await runSpecRows(db, runId);
    const spec: RunSpec = {
      id: row.id,
      pipeline: JSON.parse(row.spec) as Pipeline,
      selection: JSON.parse(row.selection) as Selection,
      options: JSON.parse(row.options) as RunOptions,
      sourceDigest: row.source_digest,
      revision: { revision: row.source_revision, branch: row.source_branch, repository: row.source_repository },
      pools: Object.fromEntries(row.pools.map((p) => [p.activity, p.pool_id])),
      ...(row.source_try === 1 && { isTry: true }),
    };
    this.#cache.set(runId, spec);
    return spec;
  }
}
