import { Readable } from 'node:stream';
import { setTimeout } from 'node:timers/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { join } from 'node:path';
import { stateDir } from '../config/paths.ts';
import type { Logs } from '../coordinator/logs.ts';
import { openLogs } from '../coordinator/open-logs.ts';
import { tailAttemptLog, tailIntervalMs, withLogTails } from '../coordinator/log-tail.ts';
import type { ReportTask, RunReport } from '../engine/report.ts';
import { loadConfig } from '../config/load.ts';
import { keptArtifacts, type Artifact } from '../store/artifacts.ts';
import { workersNamedInRun } from '../store/event-history.ts';
import { listRuns, resolveRunId, runReport, taskReport, type RunFilter } from '../store/run-report.ts';
import type { Store } from '../store/store.ts';
import { serverOf, type ApiClient } from './api-client.ts';
import { serverEvents } from './sse.ts';
import { openLocalStore } from './local-state.ts';
import { UsageError } from './usage-error.ts';

/** Past and present runs, read from this machine's store or from a server's API. */
export interface RunSource {
  listRuns(filter: RunFilter): Promise<RunReport['run'][]>;
  /** A run's id from its id or a unique prefix of it. */
  resolveRun(idOrPrefix: string): Promise<string>;
  report(runId: string): Promise<RunReport>;
  /** One task of the run as its report has it, by its whole id; read again and again while a task is followed. */
  task(runId: string, taskId: string): Promise<ReportTask>;
  /** A log as a stream: logs can be large (up to [server] max_log_bytes), so none is held whole. */
  attemptLog(runId: string, attemptId: string): Promise<Readable>;
  /** An attempt's log as it grows, piece by piece, until the attempt has ended and all of it was read. */
  followAttemptLog(runId: string, attemptId: string): AsyncIterable<string>;
  /** A worker's id from its id or a name it had. */
  findWorker(runId: string, idOrName: string): Promise<string>;
  workerLog(runId: string, workerId: string): Promise<Readable>;
  /** What the run's tasks kept (one task's with `task`). */
  artifacts(runId: string, task?: string): Promise<Artifact[]>;
  /** One artifact's bytes, streamed. */
  artifactFile(runId: string, artifact: Artifact): Promise<Readable>;
  close(): Promise<void>;
}

export interface SourceOptions { server?: string; token?: string; db?: string }

export async function openRunSource(options: SourceOptions): Promise<RunSource> {
  const api = serverOf(options);
  return api ? new RemoteRuns(api) : new LocalRuns(await openLocalStore(options.db));
}

class LocalRuns implements RunSource {
  readonly #store: Store;
  readonly #logs: Logs;

  constructor(store: Store) {
    this.#store = store;
    this.#logs = openLogs(store.db, join(stateDir(), 'logs'));
  }

  listRuns(filter: RunFilter) {
    return listRuns(this.#store.db, filter);
  }

  resolveRun(idOrPrefix: string) {
    return resolveRunId(this.#store.db, idOrPrefix).catch((error: Error) => { throw new UsageError(error.message); });
  }

  async report(runId: string) {
    return withLogTails(await runReport(this.#store.db, runId), this.#logs);
  }

  async task(runId: string, taskId: string) {
    const task = await taskReport(this.#store.db, runId, taskId);
    if (!task) throw new UsageError(`run ${runId} has no task ${taskId}`);
    return task;
  }

  attemptLog(runId: string, attemptId: string) {
    return logReadable(this.#logs, this.#logs.attemptPath(runId, attemptId));
  }

  async* followAttemptLog(runId: string, attemptId: string) {
    const path = this.#logs.attemptPath(runId, attemptId);
    for await (const piece of tailAttemptLog(this.#logs, this.#store.db, attemptId, path, 0, () => setTimeout(tailIntervalMs))) {
      if (piece) yield piece.text;
    }
  }

  async findWorker(runId: string, idOrName: string) {
    return oneWorker(runId, idOrName, await workersNamedInRun(this.#store.db, runId, idOrName));
  }

  workerLog(runId: string, workerId: string) {
    return logReadable(this.#logs, this.#logs.workerPath(runId, workerId));
  }

  artifacts(runId: string, task?: string) {
    return keptArtifacts(this.#store.db, runId, task);
  }

  async artifactFile(_runId: string, artifact: Artifact) {
    // The blob store's module brings the S3 client: only a download needs it.
    const { openBlobStore } = await import('../blobs/open-blob-store.ts');
    const blobs = openBlobStore(loadConfig().blobs, stateDir(), this.#store.db);
    if ((await blobs.size(artifact.sha256)) === undefined) throw new UsageError(`the bytes of ${artifact.path} (${artifact.task}) are no longer in ${blobs.where}`);
    return blobs.read(artifact.sha256);
  }

  close() {
    return this.#store.close();
  }
}

class RemoteRuns implements RunSource {
  readonly #api: ApiClient;

  constructor(api: ApiClient) {
    this.#api = api;
  }

  async listRuns(filter: RunFilter) {
    const query = new URLSearchParams({ limit: String(filter.limit) });
    if (filter.status) query.set('status', filter.status);
    if (filter.pipeline) query.set('pipeline', filter.pipeline);
    if (filter.revision !== undefined) query.set('revision', filter.revision);
    if (filter.branch !== undefined) query.set('branch', filter.branch);
    const { runs } = await this.#api.json<{ runs: (RunReport['run'] & { counts?: unknown })[] }>('GET', `/api/v1/runs?${query}`);
    // The list's shape is the report's `run`; the API's extra counts stay with the API.
    return runs.map(({ counts: _counts, ...run }) => run);
  }

  async resolveRun(idOrPrefix: string) {
    if (/^r-[0-9a-f]{8}$/.test(idOrPrefix)) return idOrPrefix;
    const runs = await this.listRuns({ limit: 500 });
    const matches = runs.filter((run) => run.id.startsWith(idOrPrefix));
    if (matches.length === 1) return matches[0]!.id;
    throw new UsageError(matches.length === 0 ? `no run ${idOrPrefix} among the last 500 on ${this.#api.origin}` : `${idOrPrefix} names more than one run; give more of its id`);
  }

  async report(runId: string) {
    return reportOf(await this.#api.json<RunDetail>('GET', `/api/v1/runs/${runId}`));
  }

  task(runId: string, taskId: string) {
    return this.#api.json<ReportTask>('GET', `/api/v1/runs/${runId}/tasks/${encodeURIComponent(taskId)}`);
  }

  attemptLog(_runId: string, attemptId: string) {
    return this.#api.stream(`/api/v1/attempts/${attemptId}/log`);
  }

  async* followAttemptLog(_runId: string, attemptId: string) {
    const path = `/api/v1/attempts/${attemptId}/log/stream`;
    const aborting = new AbortController();
    let resumeAt = 0;
    try {
      for (;;) {
        for await (const event of serverEvents((await this.#api.open(path, aborting.signal, resumeAt)).body!)) {
          if (event.event === 'end') return;
          if (event.event !== 'log') continue;
          resumeAt = Number(event.id);
          yield (JSON.parse(event.data) as { text: string }).text;
        }
        // The stream ended without its end (a proxy's timeout, a coordinator that stopped): go on from where it was.
        await setTimeout(tailIntervalMs);
      }
    } finally {
      aborting.abort();
    }
  }

  async findWorker(runId: string, idOrName: string) {
    const { workers } = await this.#api.json<{ workers: { id: string; name: string }[] }>('GET', `/api/v1/workers?run=${runId}`);
    return oneWorker(runId, idOrName, workers.filter((w) => w.id === idOrName || w.name === idOrName).map((w) => w.id));
  }

  workerLog(_runId: string, workerId: string) {
    return this.#api.stream(`/api/v1/workers/${workerId}/log`);
  }

  async artifacts(runId: string, task?: string) {
    const query = task === undefined ? '' : `?${new URLSearchParams({ task })}`;
    return (await this.#api.json<{ artifacts: Artifact[] }>('GET', `/api/v1/runs/${runId}/artifacts${query}`)).artifacts;
  }

  artifactFile(runId: string, artifact: Artifact) {
    return this.#api.download(`/api/v1/runs/${runId}/artifacts/file?${new URLSearchParams({ task: artifact.task, path: artifact.path })}`);
  }

  async close() {}
}

/** A run as the API details it: the report of DESIGN.md and what the run page needs besides. */
export type RunDetail = RunReport & { run: { counts?: unknown }; steps?: unknown; matrix?: unknown; last_seq?: number };

/** The report alone, as `slipway show --json` prints it whatever the source. */
export function reportOf(detail: RunDetail): RunReport {
  const { steps: _steps, matrix: _matrix, last_seq: _last, run: { counts: _counts, ...run }, ...report } = detail;
  return { ...report, run } as RunReport;
}

/** The log as it is now; nothing for one not written. */
async function logReadable(logs: Logs, path: string): Promise<Readable> {
  return Readable.fromWeb(logs.stream(path, 0, await logs.size(path)) as NodeReadableStream);
}

function oneWorker(runId: string, idOrName: string, ids: string[]): string {
  if (ids.length === 1) return ids[0]!;
  if (ids.length > 1) throw new UsageError(`more than one worker was named ${idOrName}; give its id (w-…)`);
  throw new UsageError(`run ${runId} has no worker ${idOrName}`);
}
