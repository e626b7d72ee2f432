import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.ts';
import type { Coordinator } from '../../src/coordinator/coordinator.ts';
import type { SourceOrigin } from '../../src/engine/report.ts';
import { expandTasks } from '../../src/pipeline/expand.ts';
import type { Store } from '../../src/store/store.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { tempDir } from '../helpers/temp.ts';

const dir = tempDir();
let store: Store;
let coordinator: Coordinator;
let app: ReturnType<typeof createApp>;
let sourceDir: string;

beforeAll(async () => {
  ({ store, coordinator, sourceDir } = await testCoordinator(dir.path));
  app = createApp(coordinator, store.db);
});

afterAll(async () => {
  await coordinator.close();
  await store.close();
  dir.remove();
});

const origin = (repository: string, isTry = false): SourceOrigin => ({
  vcs: 'git', repository, revision: null, branch: null, base: null, author: null, message: null, try: isTry,
});

/** A worker holding the attempt of a run whose one step caches deps under deps-{{ version }}-{{ hashFiles(…) }}. */
async function cachingAttempt(repository: string, isTry = false) {
  const pipeline = pipelineOf([{
    name: 'deps', over: ['version'], cache: { key: "deps-{{ version }}-{{ hashFiles('lock.txt') }}", paths: ['deps'], restoreKeys: ['deps-'] },
  }], { sourceDir, matrix: { version: ['1'] } });
  const run = await coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: true }, undefined, origin(repository, isTry));
  const registration = await coordinator.register(run.joinToken, { activity: 'builder' });
  if (registration.kind !== 'registered') throw new Error(`not registered: ${registration.kind}`);
  const as = (method: string, path: string, body?: string) => app.request(`/api/v1/worker${path}`, {
    method, headers: { authorization: `Bearer ${registration.credential}` }, ...(body !== undefined && { body }),
  });
  const claimed = await (await as('POST', '/claim', '{"wait_ms":0}')).json() as { attempt: { id: string; cache?: unknown } };
  const id = claimed.attempt.id;
  return {
    order: claimed.attempt.cache,
    save: (key: string, bytes: string) => as('POST', `/attempts/${id}/cache/entries?key=${encodeURIComponent(key)}`, bytes),
    lookup: async (key: string) => (await as('POST', `/attempts/${id}/cache/lookup`, JSON.stringify({ key, restore_keys: ['deps-'] }))).json(),
    fetch: (sha256: string, attempt = id) => as('GET', `/attempts/${attempt}/cache/entries/${sha256}`),
    id,
  };
}

const hash = 'a'.repeat(64);
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('cache routes', () => {
  it('give the attempt its key with the axes filled in, and save only keys that template gives', async () => {
    const worker = await cachingAttempt('repo-a');
    expect(worker.order).toEqual({ key: "deps-1-{{ hashFiles('lock.txt') }}", paths: ['deps'], restore_keys: ['deps-'], save: true });
    for (const key of ['deps-2-' + hash, 'other-1-' + hash, 'deps-1-not-a-hash', `deps-1-${hash}x`]) {
      const refused = await worker.save(key, 'entry');
      expect(refused.status, key).toBe(400);
      expect((await refused.json() as { error: string }).error).toContain("is not one the step's key (deps-{{ version }}-{{ hashFiles('lock.txt') }}) gives");
    }
    expect((await worker.save(`deps-1-${hash}`, 'entry')).status).toBe(201);
    expect(await worker.lookup(`deps-1-${hash}`)).toEqual({ entry: { key: `deps-1-${hash}`, sha256: sha256('entry'), size: 5, exact: true } });
    const fetched = await worker.fetch(sha256('entry'));
    expect(await fetched.text()).toBe('entry');
  });

  it('let a try restore but never save, and keep each repository\'s entries to its own runs', async () => {
    const owner = await cachingAttempt('repo-b');
    expect((await owner.save(`deps-1-${hash}`, 'repo b entry')).status).toBe(201);

    const tried = await cachingAttempt('repo-b', true);
    expect(tried.order).toMatchObject({ save: false });
    expect(await tried.lookup(`deps-1-${'b'.repeat(64)}`)).toMatchObject({ entry: { key: `deps-1-${hash}`, exact: false } });
    const refused = await tried.save(`deps-1-${'b'.repeat(64)}`, 'poisoned');
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({ error: 'a try restores caches but never saves them' });

    const stranger = await cachingAttempt('repo-c');
    expect(await stranger.lookup(`deps-1-${hash}`)).toEqual({ entry: null });
    expect((await stranger.fetch(sha256('repo b entry'))).status).toBe(404);
    // Nor through an attempt that is not its own.
    expect((await stranger.fetch(sha256('repo b entry'), owner.id)).status).toBe(404);
  });
});
