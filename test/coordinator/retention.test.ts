import { existsSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.ts';
import { FileBlobs } from '../../src/blobs/file-blobs.ts';
import { defaultRetention, parseRetention, type RetentionPolicy } from '../../src/config/retention.ts';
import type { Coordinator } from '../../src/coordinator/coordinator.ts';
import { startEmbedded } from '../../src/coordinator/embedded.ts';
import { GarbageCollector, type GcReport } from '../../src/coordinator/retention.ts';
import { restorableCache, saveCache } from '../../src/store/caches.ts';
import type { Store } from '../../src/store/store.ts';
import { createToken } from '../../src/store/tokens.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { ManualClock } from '../helpers/manual-clock.ts';
import { waitFor } from '../helpers/processes.ts';
import { DAY, hasLog, seedRetention, type Seeded } from '../helpers/retention-store.ts';
import { tempDir } from '../helpers/temp.ts';

describe('retention ages', () => {
  it('reads days, durations and "never", and refuses anything else', () => {
    expect(parseRetention('90d')).toBe(90 * DAY);
    expect(parseRetention('36h')).toBe(36 * 3_600_000);
    expect(parseRetention('never')).toBeUndefined();
    for (const bad of ['0d', '0s', '90 days', '-1d', '']) expect(() => parseRetention(bad), bad).toThrow();
    expect(defaultRetention).toEqual({ runsMs: 90 * DAY, artifactsMs: 30 * DAY, sourceArchivesMs: 30 * DAY, cachesMs: 14 * DAY, imagesMs: 30 * DAY });
  });
});

describe('garbage collection of a state directory', () => {
  let dir: ReturnType<typeof tempDir>;
  let store: Store;
  let coordinator: Coordinator;
  let seeded: Seeded;
  let clock: ManualClock;

  beforeEach(async () => {
    dir = tempDir();
    clock = new ManualClock();
    ({ store, coordinator } = await testCoordinator(dir.path, { clock }));
    seeded = await seedRetention(store, coordinator, dir.path, clock.now());
  });

  afterEach(async () => {
    await coordinator.close();
    await store.close();
    dir.remove();
  });

  const collector = (policy: RetentionPolicy = defaultRetention) =>
    new GarbageCollector({ store, stateDir: dir.path, policy, blobs: new FileBlobs(join(dir.path, 'blobs')), clock });
  const runIds = async () => (await store.db.selectFrom('runs').select('id').orderBy('id').execute()).map((r) => r.id).sort();
  const rowsOf = async (runId: string) => ({
    tasks: (await store.db.selectFrom('tasks').select('key').where('run_id', '=', runId).execute()).length,
    events: (await store.db.selectFrom('events').select('seq').where('run_id', '=', runId).execute()).length,
    artifacts: (await store.db.selectFrom('artifacts').select('path').where('run_id', '=', runId).execute()).length,
  });
  // A source archive is a blob, named by its digest.
  const archive = (digest: string) => blob(digest);
  const tree = (digest: string) => join(dir.path, 'sources', 'trees', digest);
  const blob = (sha256: string) => new FileBlobs(join(dir.path, 'blobs')).path(sha256);

  function expectedReport(dryRun: boolean): GcReport {
    const archiveBytes = statSync(archive(seeded.digests.old)).size;
    return {
      dry_run: dryRun,
      runs: { count: 1, bytes: seeded.bytes.oldLog },
      artifacts: { count: 2, bytes: seeded.bytes.oldArtifacts },
      // The old run's own blob, and its source archive.
      blobs: { count: 2, bytes: seeded.bytes.oldBlob + archiveBytes },
      // Its unpacked tree.
      source_archives: { count: 1, bytes: statSync(join(tree(seeded.digests.old), 'README')).size },
      images: null,
      caches: { count: 0, bytes: 0 },
    };
  }

  it('with a dry run, reports what would go and deletes nothing', async () => {
    const before = { runs: await runIds(), old: await rowsOf(seeded.runs.old) };
    const expected = expectedReport(true);
    expect(await collector().collect(true)).toEqual(expected);
    expect(await runIds()).toEqual(before.runs);
    expect(await rowsOf(seeded.runs.old)).toEqual(before.old);
    for (const path of [archive(seeded.digests.old), tree(seeded.digests.old), blob(seeded.blobs.old)]) expect(existsSync(path), path).toBe(true);
    expect(await hasLog(coordinator.logs, seeded.runs.old)).toBe(true);
    // The same count twice: the dry run left the store as it was.
    expect(await collector().collect(true)).toEqual(expected);
  });

  it('deletes exactly the old finished run with its rows, log, source archive and unshared blob, and keeps what the others use', async () => {
    const kept = { recent: await rowsOf(seeded.runs.recent), running: await rowsOf(seeded.runs.running) };
    expect(kept.running.artifacts).toBe(1);
    const expected = expectedReport(false);
    expect(await collector().collect(false)).toEqual(expected);

    expect(await runIds()).toEqual([seeded.runs.recent, seeded.runs.running].sort());
    expect(await rowsOf(seeded.runs.old)).toEqual({ tasks: 0, events: 0, artifacts: 0 });
    expect(await rowsOf(seeded.runs.recent)).toEqual(kept.recent);
    expect(await rowsOf(seeded.runs.running)).toEqual(kept.running);
    for (const gone of [archive(seeded.digests.old), tree(seeded.digests.old), blob(seeded.blobs.old)]) expect(existsSync(gone), gone).toBe(false);
    expect(await hasLog(coordinator.logs, seeded.runs.old)).toBe(false);
    for (const run of ['recent', 'running'] as const) {
      expect(await hasLog(coordinator.logs, seeded.runs[run]), run).toBe(true);
      expect(existsSync(archive(seeded.digests[run])), run).toBe(true);
      expect(existsSync(tree(seeded.digests[run])), run).toBe(true);
    }
    // Shared with the recent run, the running run's own, and one whose row is not written yet.
    for (const sha256 of [seeded.blobs.shared, seeded.blobs.running, seeded.blobs.fresh]) expect(existsSync(blob(sha256)), sha256).toBe(true);
    // An upload no run names yet is young: kept for the run about to name it.
    expect(existsSync(archive(seeded.digests.upload))).toBe(true);

    // Nothing left to collect.
    expect(await collector().collect(false)).toMatchObject({ runs: { count: 0 }, artifacts: { count: 0 }, blobs: { count: 0 }, source_archives: { count: 0 } });
  });

  it('keeps everything a "never" names, and a running run past every age', async () => {
    const never = { runsMs: undefined, artifactsMs: undefined, sourceArchivesMs: undefined, cachesMs: undefined, imagesMs: undefined };
    expect(await collector(never).collect(false)).toMatchObject({ runs: { count: 0 }, artifacts: { count: 0 }, blobs: { count: 0 }, source_archives: { count: 0 } });
    clock.advance(1000 * DAY);
    await collector().collect(false);
    expect(await runIds()).toEqual([seeded.runs.running]);
    expect(await rowsOf(seeded.runs.running)).toMatchObject({ artifacts: 1 });
    expect(existsSync(archive(seeded.digests.running))).toBe(true);
    expect(existsSync(blob(seeded.blobs.running))).toBe(true);
  });

  it('keeps an old finished run a live worker still belongs to (a pool worker may serve other runs)', async () => {
    await store.db.insertInto('workers').values({
      id: 'w-0000000000000001', run_id: seeded.runs.old, activity: 'builder', provider: 'local', name: 'builder-1', state: 'idle', tasks_done: 1, last_task: null,
      registration_hash: null, credential_hash: null, machine: null, error: null, stop_cause: null, created_at: clock.now(), registered_at: clock.now(),
      last_seen_at: clock.now(), heartbeat_timeout_ms: 60_000, owner: null, pool_id: null, stopped_at: null, machine_at: null, hourly_usd: null, billing: null,
    }).execute();
    expect((await collector().collect(false)).runs).toEqual({ count: 0, bytes: 0 });
    expect(await runIds()).toContain(seeded.runs.old);
    expect(await hasLog(coordinator.logs, seeded.runs.old)).toBe(true);
  });

  it('deletes the cache entries unused for [retention] caches, and their bytes once nothing names them', async () => {
    const blobs = new FileBlobs(join(dir.path, 'blobs'));
    const entry = async (key: string, text: string, usedDaysAgo: number) => {
      const stored = await blobs.put(new Response(text).body!, 1 << 20, 'a cache entry');
      const at = clock.now() - usedDaysAgo * DAY;
      utimesSync(blobs.path(stored.sha256), new Date(at), new Date(at));
      await saveCache(store.db, 'repo', { key, ...stored }, at, 1 << 30);
      return stored.sha256;
    };
    const stale = await entry('deps-old', 'stale entry', 20);
    const restored = await entry('deps-new', 'fresh entry', 20);
    // Restored a day ago: used, so kept however old it is.
    await restorableCache(store.db, 'repo', 'deps-new', [], clock.now() - DAY);
    expect((await collector().collect(false)).caches).toEqual({ count: 1, bytes: 'stale entry'.length });
    expect((await store.db.selectFrom('caches').select('key').execute()).map((row) => row.key)).toEqual(['deps-new']);
    expect(existsSync(blob(stale))).toBe(false);
    expect(existsSync(blob(restored))).toBe(true);
  });

  it('runs on POST /api/v1/gc for an admin token only', async () => {
    const app = createApp(coordinator, store.db, undefined, undefined, {}, undefined, collector());
    const admin = (await createToken(store.db, 'admin', ['admin'], clock.now())).secret;
    const submit = (await createToken(store.db, 'ci', ['submit'], clock.now())).secret;
    const post = (token: string, body: unknown) => app.request('/api/v1/gc', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post(submit, { dry_run: true })).status).toBe(403);
    expect((await post(admin, { dry_run: 'yes' })).status).toBe(400);
    const [dryReport, realReport] = [expectedReport(true), expectedReport(false)];
    const dry = await post(admin, { dry_run: true });
    expect(dry.status).toBe(200);
    expect(await dry.json()).toEqual(dryReport);
    expect(await runIds()).toContain(seeded.runs.old);
    const real = await post(admin, {});
    expect(await real.json()).toEqual(realReport);
    expect(await runIds()).not.toContain(seeded.runs.old);
  });
});

describe("a server's collection", () => {
  it('happens once at start and then every interval, without a request', async () => {
    const dir = tempDir();
    const seeding = await testCoordinator(dir.path, { storePath: join(dir.path, 'slipway.db') });
    const seeded = await seedRetention(seeding.store, seeding.coordinator, dir.path, Date.now());
    await seeding.coordinator.close();
    await seeding.store.close();
    const server = await startEmbedded({ stateDir: dir.path, dbPath: seeding.store.location, retention: { intervalMs: 100 } });
    try {
      const has = async (runId: string) => (await server.store.db.selectFrom('runs').select('id').where('id', '=', runId).executeTakeFirst()) !== undefined;
      // Its rows go in one transaction, its logs after it: the collection has ended when both are gone.
      await waitFor(async () => !(await has(seeded.runs.old)) && !(await hasLog(server.coordinator.logs, seeded.runs.old)), 10_000, 'the collection at start to delete the old run and its logs');
      // Ended 100 days ago after the server started: the next round finds it.
      await server.store.db.updateTable('runs').set({ status: 'failed', finished_at: Date.now() - 100 * DAY }).where('id', '=', seeded.runs.running).execute();
      await waitFor(async () => !(await has(seeded.runs.running)), 10_000, 'a later collection to delete the run that ended');
      expect(await has(seeded.runs.recent)).toBe(true);
    } finally {
      await server.close();
      dir.remove();
    }
  });
});
