import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileBlobs } from '../../src/blobs/file-blobs.ts';
import { sourceTree, storeSource } from '../../src/coordinator/source-archive.ts';
import type { Coordinator } from '../../src/coordinator/coordinator.ts';
import type { Logs } from '../../src/coordinator/logs.ts';
import { defaultArchiveLimits } from '../../src/archive/check.ts';
import { expandTasks } from '../../src/pipeline/expand.ts';
import { recordArtifact } from '../../src/store/artifacts.ts';
import type { Store } from '../../src/store/store.ts';
import { pipelineOf } from './pipelines.ts';
import { tarGz } from './tar.ts';

export const DAY = 86_400_000;

/** What seedRetention made, by what retention should do with it. */
export interface Seeded {
  runs: { old: string; recent: string; running: string };
  digests: { old: string; recent: string; running: string; upload: string };
  blobs: { old: string; shared: string; running: string; fresh: string };
  /** Bytes of the old run's log, of its artifacts, and of its only blob (its source archive aside). */
  bytes: { oldLog: number; oldArtifacts: number; oldBlob: number };
}

/**
 * A state directory as a server leaves it, times relative to `now`: a run finished 100 days
 * ago, one finished yesterday, one still running after 100 days, each with its own source
 * archive (a blob, with the coordinator's unpacked tree), a log and artifacts (the old and
 * the recent share one blob); an archive uploaded just now that no run names yet; a blob
 * stored just now that no row names yet.
 */
export async function seedRetention(store: Store, coordinator: Coordinator, stateDir: string, now: number): Promise<Seeded> {
  const blobs = new FileBlobs(join(stateDir, 'blobs'));
  const put = async (text: string, at: number) => {
    const blob = await blobs.put(new Response(text).body!, 1 << 20, 'a test blob');
    utimesSync(blobs.path(blob.sha256), new Date(at), new Date(at));
    return blob;
  };
  const runOf = async (name: string, status: 'succeeded' | 'running', createdAt: number, finishedAt: number | null) => {
    const sourceDir = join(stateDir, `source-${name}`);
    mkdirSync(sourceDir, { recursive: true });
    writeFileSync(join(sourceDir, 'README'), `the ${name} run's tree\n`);
    const pipeline = pipelineOf([{ name: 'build' }], { sourceDir });
    const { runId } = await coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: true });
    await store.db.updateTable('runs').set({ status, created_at: createdAt, finished_at: finishedAt }).where('id', '=', runId).execute();
    // Its task done, or in a worker's hands: none for a coordinator to start a worker for.
    await store.db.updateTable('tasks').set(status === 'running' ? { status: 'running', active_attempt: 'a-000000000001' } : { status }).where('run_id', '=', runId).execute();
    const { source_digest } = await store.db.selectFrom('runs').select('source_digest').where('id', '=', runId).executeTakeFirstOrThrow();
    // The archive is a blob, as old as its run; the coordinator's unpacked copy (a submitted run's pipeline is read from it) too.
    utimesSync(blobs.path(source_digest!), new Date(createdAt), new Date(createdAt));
    const tree = await sourceTree(await coordinator.sources(), source_digest!, defaultArchiveLimits);
    utimesSync(tree, new Date(createdAt), new Date(createdAt));
    const log = coordinator.logs.attemptPath(runId, 'a-000000000001');
    coordinator.logs.append(log, `${name} output\n`.repeat(10));
    await coordinator.logs.close(log);
    return { runId, digest: source_digest! };
  };
  const old = await runOf('old', 'succeeded', now - 100 * DAY, now - 100 * DAY);
  const recent = await runOf('recent', 'succeeded', now - 2 * DAY, now - DAY);
  const running = await runOf('running', 'running', now - 100 * DAY, null);

  const oldBlob = await put('kept by the old run alone', now - 100 * DAY);
  const shared = await put('kept by the old and the recent run', now - 100 * DAY);
  const runningBlob = await put('kept by the running run', now - 100 * DAY);
  const fresh = await put('an upload whose row is not written yet', now);
  const artifact = (run: string, path: string, blob: { sha256: string; size: number }, at: number) => recordArtifact(store.db, {
    run, attempt: 'a-000000000001', task: 'build', path, size: blob.size, sha256: blob.sha256, content_type: 'text/plain', created_at: at, expires_at: null,
  });
  await artifact(old.runId, 'own.txt', oldBlob, now - 100 * DAY);
  await artifact(old.runId, 'shared.txt', shared, now - 100 * DAY);
  await artifact(recent.runId, 'shared.txt', shared, now - DAY);
  await artifact(running.runId, 'running.txt', runningBlob, now - 100 * DAY);

  const body = tarGz([{ type: 'file', name: 'README', data: 'uploaded, its run not yet created\n' }]);
  const upload = await storeSource(new Response(body).body!, await coordinator.sources(), 1 << 20, defaultArchiveLimits);

  return {
    runs: { old: old.runId, recent: recent.runId, running: running.runId },
    digests: { old: old.digest, recent: recent.digest, running: running.digest, upload },
    blobs: { old: oldBlob.sha256, shared: shared.sha256, running: runningBlob.sha256, fresh: fresh.sha256 },
    bytes: { oldLog: `old output\n`.length * 10, oldArtifacts: oldBlob.size + shared.size, oldBlob: oldBlob.size },
  };
}

/** Whether the run's log (see seedRetention) is still kept, wherever the store keeps logs. */
export async function hasLog(logs: Logs, runId: string): Promise<boolean> {
  return (await logs.size(logs.attemptPath(runId, 'a-000000000001'))) > 0;
}
