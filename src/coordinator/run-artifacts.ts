import { matchesGlob } from 'node:path';
import type { Blob, BlobStore, ReadTarget, UploadTarget } from '../blobs/blob-store.ts';
import { openBlobStore } from '../blobs/open-blob-store.ts';
import type { ArtifactInput } from '../protocol/worker.ts';
import { keptArtifacts, neededArtifacts, recordArtifact, runHasBlob, type Artifact } from '../store/artifacts.ts';
import { contentTypeOf } from '../util/content-type.ts';
import type { CoordinatorCore } from './core.ts';
import { attemptInHand } from './ops/attempt-in-hand.ts';
import type { RunSpec } from './run-specs.ts';
import type { WorkerIdentity } from './worker-identity.ts';

/** The largest artifact a worker may upload (docs/api.md). */
export const maxArtifactBytes = 4 * 1024 ** 3;

type Refusal = { refused: string; status: 400 | 404 | 409 | 413 };

export type KeepAnswer = { kept: Artifact } | Refusal;

/** What an agent offering a file it hashed is told: kept (the store has those bytes), or where to upload them. */
export type OfferAnswer = { kept: Artifact } | { upload: UploadTarget } | Refusal;

type AttemptInHand = NonNullable<Awaited<ReturnType<typeof attemptInHand>>>;

/**
 * The files attempts keep and the tasks that need them get: their bytes in the blob store,
 * their names and checksums in the store. Only a worker's attempt in hand may add to its
 * task's, and only paths its step declares; only an attempt of the same run may fetch them.
 */
export class RunArtifacts {
  readonly blobs: BlobStore;
  readonly #core: CoordinatorCore;

  constructor(core: CoordinatorCore) {
    this.#core = core;
    this.blobs = openBlobStore(core.settings.blobs, core.settings.stateDir, core.store.db, core.clock);
  }

  /** A file's bytes sent through the coordinator (the files store's way, and any agent's that does not offer first). */
  async keep(worker: WorkerIdentity, attemptId: string, path: string, body: ReadableStream<Uint8Array>): Promise<KeepAnswer> {
    const attempt = await this.#mayKeep(worker, attemptId, path);
    if ('refused' in attempt) return attempt;
    return { kept: await this.#record(attempt, attemptId, path, await this.blobs.put(body, maxArtifactBytes, `artifact ${path}`)) };
  }

  /**
   * A file the agent hashed: recorded at once when the store already holds those bytes
   * (they are never sent twice), else the agent is told where to upload them, and offers
   * them again once it has. Knowing a sha256 gains nothing: the bytes it names are
   * readable by whoever could read the listing that shows it.
   */
  async offer(worker: WorkerIdentity, attemptId: string, path: string, blob: Blob): Promise<OfferAnswer> {
    const attempt = await this.#mayKeep(worker, attemptId, path);
    if ('refused' in attempt) return attempt;
    if (blob.size > maxArtifactBytes) return { refused: `artifact ${path} is ${blob.size} bytes, over the ${maxArtifactBytes} an artifact may have`, status: 413 };
    const stored = await this.blobs.size(blob.sha256);
    if (stored === blob.size) return { kept: await this.#record(attempt, attemptId, path, blob) };
    if (stored !== undefined) {
      return { refused: `artifact ${path}: the blob store's ${blob.sha256} has ${stored} bytes, not ${blob.size}: the file changed while it was hashed, or the store's copy was changed`, status: 409 };
    }
    return { upload: await this.blobs.uploadTarget(blob) };
  }

  /** The attempt, when it is this worker's, in hand, and its step declares `path`. */
  async #mayKeep(worker: WorkerIdentity, attemptId: string, path: string): Promise<AttemptInHand | Refusal> {
    const { store, specs } = this.#core;
    const attempt = await attemptInHand(store.db, worker.workerId, attemptId);
    if (!attempt) return { refused: 'this attempt is not in hand (it ended, or is not this worker\'s)', status: 409 };
    const patterns = (await specs.get(store.db, attempt.run_id)).pipeline.steps[attempt.step]?.artifacts ?? [];
    if (attempt.kind !== 'run' || patterns.length === 0) return { refused: `step ${attempt.step} keeps no artifacts`, status: 400 };
    const problem = pathProblem(path);
    if (problem) return { refused: `artifact path ${JSON.stringify(path.slice(0, 200))}: ${problem}`, status: 400 };
    if (!patterns.some((pattern) => matchesGlob(path, pattern) || isUnder(path, pattern))) {
      return { refused: `artifact ${path} matches none of step ${attempt.step}'s artifacts (${patterns.join(', ')})`, status: 400 };
    }
    return attempt;
  }

  async #record(attempt: AttemptInHand, attemptId: string, path: string, blob: Blob): Promise<Artifact> {
    const { store, clock, settings } = this.#core;
    const now = clock.now();
    const kept: Artifact = {
      task: attempt.task_key, path, size: blob.size, sha256: blob.sha256, content_type: contentTypeOf(path), created_at: now,
      expires_at: settings.artifactsExpireMs === undefined ? null : now + settings.artifactsExpireMs,
    };
    await recordArtifact(store.db, { ...kept, run: attempt.run_id, attempt: attemptId });
    return kept;
  }

  /** Where the blob an attempt in hand may fetch is, or undefined when it may not (or it is gone). */
  async input(worker: WorkerIdentity, attemptId: string, sha256: string): Promise<ReadTarget | undefined> {
    const db = this.#core.store.db;
    const attempt = await attemptInHand(db, worker.workerId, attemptId);
    if (!attempt || !(await runHasBlob(db, attempt.run_id, sha256)) || (await this.blobs.size(sha256)) === undefined) return undefined;
    return this.blobs.readTarget(sha256);
  }

  /**
   * The inputs of an attempt of `taskKey`; none when no step it may need keeps artifacts,
   * without reading the store. Each carries a signed URL when the store gives one, so the
   * agent reads it from there, not through the coordinator (a coordinator that serves it
   * reads it when the agent asks for it).
   */
  async inputsOf(spec: RunSpec, taskKey: string, stepName: string): Promise<ArtifactInput[]> {
    const step = spec.pipeline.steps[stepName];
    if (!step?.needs.some((needed) => spec.pipeline.steps[needed]?.artifacts)) return [];
    return Promise.all((await neededArtifacts(this.#core.store.db, spec.id, taskKey)).map(async ({ task, path, sha256, size }) => {
      const target = this.blobs.signsUrls ? await this.blobs.readTarget(sha256) : undefined;
      return { task, path, sha256, size, ...(target && 'url' in target && { url: target.url }) };
    }));
  }

  list(runId: string, taskKey?: string): Promise<Artifact[]> {
    return keptArtifacts(this.#core.store.db, runId, taskKey);
  }

  /** One artifact of a task, with where a user downloads its bytes; undefined when there is none or its bytes are gone. */
  async file(runId: string, taskKey: string, path: string): Promise<{ artifact: Artifact; target: ReadTarget } | undefined> {
    const artifact = (await this.list(runId, taskKey)).find((a) => a.path === path);
    if (!artifact || (await this.blobs.size(artifact.sha256)) === undefined) return undefined;
    return { artifact, target: await this.blobs.readTarget(artifact.sha256, { filename: fileName(path), contentType: artifact.content_type }) };
  }
}

/** The last part of a path: what a download is saved as. */
export function fileName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Why a path an agent sent cannot name an artifact: it must be relative, plain, and inside the tree. */
function pathProblem(path: string): string | undefined {
  if (path.length === 0 || path.length > 4096) return 'expected 1 to 4096 characters';
  if (path.includes('\0') || path.includes('\\')) return 'expected no NUL or backslash';
  if (path.startsWith('/')) return 'expected a relative path';
  if (path.split('/').some((part) => part === '' || part === '.' || part === '..')) return 'expected a plain path, without empty, . or .. parts';
  return undefined;
}

/** A file under a directory a pattern matched (`artifacts: [dist]` keeps everything in dist). */
function isUnder(path: string, pattern: string): boolean {
  const parts = path.split('/');
  for (let i = 1; i < parts.length; i++) if (matchesGlob(parts.slice(0, i).join('/'), pattern)) return true;
  return false;
}
