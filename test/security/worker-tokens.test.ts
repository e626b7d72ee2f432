import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.ts';
import type { Coordinator } from '../../src/coordinator/coordinator.ts';
import type { Scope } from '../../src/engine/scopes.ts';
import { expandTasks } from '../../src/pipeline/expand.ts';
import type { Store } from '../../src/store/store.ts';
import { createToken } from '../../src/store/tokens.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { tempDir } from '../helpers/temp.ts';

/** Who may register a worker, and what a worker token may do besides. */
describe('registering a hand-started worker', () => {
  const dir = tempDir();
  let store: Store;
  let coordinator: Coordinator;
  let app: ReturnType<typeof createApp>;
  const secrets = new Map<Scope, string>();

  beforeAll(async () => {
    let sourceDir: string;
    ({ store, coordinator, sourceDir } = await testCoordinator(dir.path));
    app = createApp(coordinator, store.db);
    const pipeline = pipelineOf([{ name: 'build' }], { sourceDir });
    await coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: true });
    for (const scope of ['read', 'submit', 'admin', 'worker'] as const) secrets.set(scope, (await createToken(store.db, scope, [scope], Date.now())).secret);
  });

  afterAll(async () => {
    await coordinator.close();
    await store.close();
    dir.remove();
  });

  const register = (scope: Scope) => app.request('/api/v1/worker/register', {
    method: 'POST', body: JSON.stringify({ activity: 'builder', hostname: 'here', pid: 1 }),
    headers: { authorization: `Bearer ${secrets.get(scope)}`, 'content-type': 'application/json' },
  });

  it('refuses a submit or read token with 403, naming the tokens that may', async () => {
    for (const scope of ['submit', 'read'] as const) {
      const response = await register(scope);
      expect(response.status).toBe(403);
      expect((await response.json() as { error: string }).error).toMatch(/join token or a token with the worker scope \(slipway tokens create NAME --scope worker\)/);
    }
    expect(await store.db.selectFrom('workers').select('id').execute()).toEqual([]);
  });

  it('registers with a worker token, which can neither submit nor read runs', async () => {
    const response = await register('worker');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ worker: { activity: 'builder' }, credential: expect.any(String) });
    const as = { authorization: `Bearer ${secrets.get('worker')}` };
    const submit = await app.request('/api/v1/runs', { method: 'POST', body: '{}', headers: { ...as, 'content-type': 'application/json' } });
    expect(submit.status).toBe(403);
    expect((await app.request('/api/v1/sources', { method: 'POST', body: 'x', headers: as })).status).toBe(403);
    expect((await app.request('/api/v1/runs', { headers: as })).status).toBe(403);
    expect((await app.request('/api/v1/workers', { headers: as })).status).toBe(403);
  });

  it('registers with an admin token', async () => {
    expect((await register('admin')).status).toBe(200);
  });
});
