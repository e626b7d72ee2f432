import type { BlobStore, ReadTarget } from '../blobs/blob-store.ts';
import { parseCacheKey } from '../pipeline/cache-key.ts';
import type { CacheFound, CacheLookup } from '../protocol/worker.ts';
import { restorableCache, saveCache, scopeHasCacheBlob, type CacheEntry } from '../store/caches.ts';
import type { CoordinatorCore } from './core.ts';
import { attemptInHand } from './ops/attempt-in-hand.ts';
import type { RunSpec } from './run-specs.ts';
import type { WorkerIdentity } from './worker-identity.ts';

/** The largest cache entry a worker may save. */
export const maxCacheEntryBytes = 4 * 1024 ** 3;

type Refusal = { refused: string; status: 400 | 403 | 409 };

/**
 * Step caches: entries per scope (the run's repository, or its pipeline's name when its
 * tree is in none) and key, their bytes a blob. An attempt in hand of a step with a cache
 * looks up and fetches its scope's entries; only a run that is not a try saves, and only
 * under a key its step's template could give, so no task writes another step's entries.
 */
export class RunCaches {
  readonly #core: CoordinatorCore;
  readonly #blobs: BlobStore;
  readonly #maxBytesPerScope: number;

  constructor(core: CoordinatorCore, blobs: BlobStore, maxBytesPerScope: number) {
    this.#core = core;
    this.#blobs = blobs;
    this.#maxBytesPerScope = maxBytesPerScope;
  }

  async lookup(worker: WorkerIdentity, attemptId: string, ask: CacheLookup): Promise<CacheFound | Refusal> {
    const found = await this.#cachingAttempt(worker, attemptId);
    if ('refused' in found) return found;
    const { store, clock } = this.#core;
    const entry = await restorableCache(store.db, scopeOf(found.spec), ask.key, ask.restore_keys, clock.now());
    return { entry: entry ?? null };
  }

  /** Where the attempt reads an entry's bytes, or undefined when its scope has no such entry. */
  async readTarget(worker: WorkerIdentity, attemptId: string, sha256: string): Promise<ReadTarget | undefined> {
    const found = await this.#cachingAttempt(worker, attemptId);
    if ('refused' in found || !(await scopeHasCacheBlob(this.#core.store.db, scopeOf(found.spec), sha256))) return undefined;
    return this.#blobs.readTarget(sha256);
  }

  async save(worker: WorkerIdentity, attemptId: string, key: string, body: ReadableStream<Uint8Array>): Promise<{ saved: CacheEntry; evicted: string[] } | Refusal> {
    const found = await this.#cachingAttempt(worker, attemptId);
    if ('refused' in found) return found;
    const { spec, template } = found;
    if (spec.isTry) return { refused: 'a try restores caches but never saves them', status: 403 };
    if (!keyPattern(template, spec).test(key)) return { refused: `cache key ${key.slice(0, 200)} is not one the step's key (${template}) gives`, status: 400 };
    const blob = await this.#blobs.put(body, maxCacheEntryBytes, `cache entry ${key.slice(0, 200)}`);
    const saved = { key, ...blob };
    const evicted = await saveCache(this.#core.store.db, scopeOf(spec), saved, this.#core.clock.now(), this.#maxBytesPerScope);
    return { saved, evicted };
  }

  async #cachingAttempt(worker: WorkerIdentity, attemptId: string): Promise<{ spec: RunSpec; template: string } | Refusal> {
    const { store, specs } = this.#core;
    const attempt = await attemptInHand(store.db, worker.workerId, attemptId);
    if (!attempt) return { refused: 'this attempt is not in hand (it ended, or is not this worker\'s)', status: 409 };
    const spec = await specs.get(store.db, attempt.run_id);
    const cache = spec.pipeline.steps[attempt.step]?.cache;
    if (attempt.kind !== 'run' || !cache) return { refused: `step ${attempt.step} has no cache`, status: 400 };
    return { spec, template: cache.key };
  }
}

/** Whose entries a run shares: its repository's, or its pipeline's when its tree is in no repository. */
export function scopeOf(spec: RunSpec): string {
  return spec.revision.repository ?? `pipeline:${spec.pipeline.name}`;
}

/** The keys a template gives: its text as written, any value for an axis, a sha256 for each hashFiles. */
function keyPattern(template: string, spec: RunSpec): RegExp {
  const parts = parseCacheKey(template);
  if ('problem' in parts) return /$^/;
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const source = parts.map((part) => {
    if ('text' in part) return escape(part.text);
    if ('hashFiles' in part) return '[0-9a-f]{64}';
    return `(?:${(spec.pipeline.matrix[part.axis] ?? []).map(escape).join('|')})`;
  }).join('');
  return new RegExp(`^${source}$`);
}
