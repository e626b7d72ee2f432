import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testCoordinator } from '../helpers/coordinator.ts';
import { createApp } from '../../src/api/app.ts';
import type { Coordinator } from '../../src/coordinator/coordinator.ts';
import type { Scope } from '../../src/engine/scopes.ts';
import { expandTasks } from '../../src/pipeline/expand.ts';
import type { Store } from '../../src/store/store.ts';
import { createToken, revokeToken } from '../../src/store/tokens.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { tempDir } from '../helpers/temp.ts';

type Who = 'nobody' | 'wrong' | 'revoked' | 'credential' | Scope;

describe('every user route checks the token and its scope', () => {
  const dir = tempDir();
  let store: Store;
  let coordinator: Coordinator;
  let app: ReturnType<typeof createApp>;
  let runId: string;
  const secrets = new Map<Who, string>();

  beforeAll(async () => {
    ({ store, coordinator } = await testCoordinator(dir.path));
    app = createApp(coordinator, store.db);
    const pipeline = pipelineOf([{ name: 'build' }], { sourceDir: `${dir.path}/source` });
    const created = await coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: true });
    runId = created.runId;
    for (const scope of ['read', 'submit', 'admin', 'worker'] as const) secrets.set(scope, (await createToken(store.db, scope, [scope], Date.now())).secret);
    secrets.set('revoked', (await createToken(store.db, 'gone', ['admin'], Date.now())).secret);
    await revokeToken(store.db, 'gone', Date.now());
    secrets.set('wrong', 'sw_this-token-was-never-issued-anywhere');
    const joined = await coordinator.register(created.joinToken, { activity: 'builder' });
    if (joined.kind !== 'registered') throw new Error('no worker');
    secrets.set('credential', joined.credential);
  });

  afterAll(async () => {
    await coordinator.close();
    await store.close();
    dir.remove();
  });

  const routes: [method: string, path: () => string, needs: Scope][] = [
    ['GET', () => '/api/v1/me', 'read'],
    ['GET', () => '/api/v1/runs', 'read'],
    ['GET', () => `/api/v1/runs/${runId}`, 'read'],
    ['GET', () => `/api/v1/runs/${runId}/tasks/build`, 'read'],
    ['GET', () => '/api/v1/workers', 'read'],
    ['GET', () => '/api/v1/workers/w-00000000/log', 'read'],
    ['GET', () => '/api/v1/attempts/a-000000000000/log', 'read'],
    ['GET', () => '/api/v1/attempts/a-000000000000/log/stream', 'read'],
    ['GET', () => `/api/v1/events?run=${runId}`, 'read'],
    ['POST', () => `/api/v1/runs/${runId}/cancel`, 'submit'],
  ];
  // A worker token registers workers and may do nothing else.
  const rank: Record<Scope, number> = { worker: -1, read: 0, submit: 1, admin: 2 };
  const cases = routes.flatMap(([method, path, needs]) =>
    (['nobody', 'wrong', 'revoked', 'credential', 'worker', 'read', 'submit', 'admin'] as Who[]).map((who) => ({ method, path, needs, who })));

  it.each(cases)('$method $needs-route as $who', async ({ method, path, needs, who }) => {
    const secret = secrets.get(who);
    const response = await app.request(path(), { method, headers: secret ? { authorization: `Bearer ${secret}` } : {} });
    await response.body?.cancel();
    if (who === 'nobody' || who === 'wrong' || who === 'revoked' || who === 'credential') {
      expect(response.status).toBe(401);
    } else if (rank[who] < rank[needs]) {
      expect(response.status).toBe(403);
    } else {
      expect([200, 404, 409]).toContain(response.status);
    }
  });

  it('answers 401 with a message that says how to get a token', async () => {
    const response = await app.request('/api/v1/runs');
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: expect.stringContaining('slipway tokens create') });
  });

  it('lets requests without a token read, and only read, when the server allows anonymous reading', async () => {
    const open = createApp(coordinator, store.db, { anonymousRead: true });
    expect((await open.request('/api/v1/runs')).status).toBe(200);
    expect(await (await open.request('/api/v1/me')).json()).toEqual({ name: 'anonymous', scopes: ['read'] });
    expect((await open.request(`/api/v1/runs/${runId}/cancel`, { method: 'POST' })).status).toBe(403);
    const wrong = await open.request('/api/v1/runs', { headers: { authorization: 'Bearer sw_this-token-was-never-issued-anywhere' } });
    expect(wrong.status).toBe(401);
  });

  it('keeps user tokens out of the worker routes', async () => {
    for (const who of ['read', 'submit', 'admin', 'worker'] as const) {
      const response = await app.request('/api/v1/worker/claim', { method: 'POST', body: '{"wait_ms":0}', headers: { authorization: `Bearer ${secrets.get(who)}` } });
      expect(response.status).toBe(401);
    }
  });
});
