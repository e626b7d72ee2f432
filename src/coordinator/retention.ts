import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { StoredBlob } from '../blobs/blob-store.ts';
import type { RetentionPolicy } from '../config/retention.ts';
import type { Clock } from '../engine/clock.ts';
import { blobsInUse, deleteExpiredArtifacts, deleteRuns, deleteUnusedCaches, finishedRunsBefore, sourcesInUse } from '../store/retention-rows.ts';
import type { Store } from '../store/store.ts';
import { idPatterns } from '../util/ids.ts';
import { removeTree } from '../util/remove-tree.ts';
import { openLogs } from './open-logs.ts';

/** How many of a kind went (or would go), and their bytes. */
export interface Tally {
  count: number;
  bytes: number;
}

/** What one collection removed, or would remove with `dry_run`; null: not collected (kept forever, or nothing to collect it from). */
export interface GcReport {
  dry_run: boolean;
  /** Finished runs with their rows; bytes are their logs'. */
  runs: Tally;
  /** Artifact rows, with the bytes they name. */
  artifacts: Tally;
  /** Blobs no artifact, cache entry or run (its source archive) names any more. */
  blobs: Tally;
  /**
   * The coordinator's unpacked copies of source archives (sources/trees/) no run names,
   * unused for `[retention] source_archives`. The archives themselves are blobs: one no
   * run names goes with the blobs.
   */
  source_archives: Tally;
  /** EC2 prepared images (bytes: their snapshots' volume sizes). */
  images: Tally | null;
  /** Step cache entries not restored or saved for `[retention] caches` (bytes: their entries'); null when kept forever. */
  caches: Tally | null;
}

/** The blob store as retention uses it: each store (files, a bucket) lists and deletes its own. */
export interface CollectableBlobs {
  list(): Promise<StoredBlob[]>;
  delete(sha256: string): Promise<void>;
}

/** Deregisters prepared images unused since `unusedSince` (ms since the epoch), or only counts them. */
export type ImageExpiry = (unusedSince: number, dryRun: boolean) => Promise<Tally>;

/** A blob younger than this is kept even when no row names it: its upload may still be under way. */
export const blobGraceMs = 3_600_000;

export interface CollectorOptions {
  store: Store;
  stateDir: string;
  policy: RetentionPolicy;
  blobs: CollectableBlobs;
  clock: Clock;
  images?: ImageExpiry | undefined;
}

const dryRunDone = Symbol('dry run');

/**
 * Retention: deletes what `[retention]` says has expired, from the store and the state
 * directory. Never a running run's rows, logs, artifacts or sources, nor a run a live
 * worker still belongs to. The store's part is one transaction (rolled back for a dry
 * run, so a dry run counts exactly what a real one would delete); files go after it, each
 * only when nothing left in the store names it. One collection at a time: a call while
 * one runs waits for it, then counts afresh.
 */
export class GarbageCollector {
  readonly #options: CollectorOptions;
  /** The last collection asked for: each waits for the one before. */
  #tail: Promise<unknown> = Promise.resolve();

  constructor(options: CollectorOptions) {
    this.#options = options;
  }

  collect(dryRun: boolean): Promise<GcReport> {
    const next = this.#tail.then(() => this.#collect(dryRun));
    this.#tail = next.catch(() => undefined);
    return next;
  }

  /** Waits for the collections asked for so far, so the store can close under none. */
  idle(): Promise<void> {
    return this.#tail.then(() => undefined);
  }

  async #collect(dryRun: boolean): Promise<GcReport> {
    const { store, stateDir, policy, clock } = this.#options;
    const now = clock.now();
    const before = (ms: number | undefined) => (ms === undefined ? undefined : now - ms);
    let rows!: { runs: string[]; artifacts: Tally; caches: Tally | null; blobs: Set<string>; sources: Set<string> };
    try {
      await store.transaction(async (trx) => {
        const runCutoff = before(policy.runsMs);
        const runs = runCutoff === undefined ? [] : await finishedRunsBefore(trx, runCutoff);
        // Artifacts first: those of the runs about to go count as artifacts too.
        const artifacts = await deleteExpiredArtifacts(trx, before(policy.artifactsMs), now, runs);
        await deleteRuns(trx, runs);
        const cacheCutoff = before(policy.cachesMs);
        const caches = cacheCutoff === undefined ? null : await deleteUnusedCaches(trx, cacheCutoff);
        rows = { runs, artifacts, caches, blobs: await blobsInUse(trx), sources: await sourcesInUse(trx) };
        if (dryRun) throw dryRunDone;
      });
    } catch (error) {
      if (error !== dryRunDone) throw error;
    }
    const logs = openLogs(store.db, join(stateDir, 'logs'));
    const runs = { count: rows.runs.length, bytes: 0 };
    for (const runId of rows.runs) runs.bytes += await logs.removeRun(runId, dryRun);
    const images = policy.imagesMs === undefined || !this.#options.images ? null : await this.#options.images(now - policy.imagesMs, dryRun);
    return {
      dry_run: dryRun,
      runs,
      artifacts: rows.artifacts,
      blobs: await this.#blobs(rows.blobs, now - blobGraceMs, dryRun),
      source_archives: sourceTrees(join(stateDir, 'sources', 'trees'), rows.sources, before(policy.sourceArchivesMs), dryRun),
      images,
      caches: rows.caches,
    };
  }

  async #blobs(inUse: Set<string>, storedBefore: number, dryRun: boolean): Promise<Tally> {
    const tally = { count: 0, bytes: 0 };
    for (const blob of await this.#options.blobs.list()) {
      if (inUse.has(blob.sha256) || blob.storedAt >= storedBefore) continue;
      if (!dryRun) await this.#options.blobs.delete(blob.sha256);
      tally.count += 1;
      tally.bytes += blob.size;
    }
    return tally;
  }
}

/** Unpacked trees (trees/<digest>) older than `before` that no run names. */
function sourceTrees(dir: string, inUse: Set<string>, before: number | undefined, dryRun: boolean): Tally {
  const tally = { count: 0, bytes: 0 };
  if (before === undefined || !existsSync(dir)) return tally;
  for (const digest of readdirSync(dir)) {
    // A partial unpacking (<digest>.<id>) is left to the sourceTree call making it, which renames or removes it.
    if (!idPatterns.digest.test(digest) || inUse.has(digest)) continue;
    const tree = statSync(join(dir, digest), { throwIfNoEntry: false });
    // A tree is unpacked to read a submitted pipeline before the run that names it is created: a young one waits for it.
    if (!tree || tree.mtimeMs >= before) continue;
    tally.count += 1;
    tally.bytes += removeTree(join(dir, digest), dryRun);
  }
  return tally;
}
