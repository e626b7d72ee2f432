import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testCoordinator } from '../helpers/coordinator.ts';
import type { z } from 'zod';
import { createApp } from '../../src/api/app.ts';
import { systemClock } from '../../src/engine/clock.ts';
import { openApiDocument, responses } from '../../src/api/openapi.ts';
import { webUi } from '../../src/api/web-ui.ts';
import { claimBody, finishBody, heartbeatBody, registerBody, stoppedBody } from '../../src/api/worker-routes.ts';
import { Coordinator } from '../../src/coordinator/coordinator.ts';
import type { RunEvent } from '../../src/engine/events.ts';
import type { FleetWorker, PoolSummary } from '../../src/engine/fleet-view.ts';
import type { ReportAttempt, ReportTask, RunReport, TaskStatus } from '../../src/engine/report.ts';
import type { Scope } from '../../src/engine/scopes.ts';
import { expandTasks } from '../../src/pipeline/expand.ts';
import type {
  AgentStop, AttemptOrder, ClaimRequest, Finished, FinishRequest, HandedOut, HeartbeatAnswer, HeartbeatRequest, RegisterRequest, Registered, StopAnswer,
} from '../../src/protocol/worker.ts';
import type { Store } from '../../src/store/store.ts';
import { createToken } from '../../src/store/tokens.ts';
import { Mirrors } from '../../src/vcs/mirrors.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { tempDir } from '../helpers/temp.ts';

// The document's shapes and the code's types must agree, or this file does not compile.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Out<T extends z.ZodType> = z.output<T>;
const typesAgree: [
  Same<Out<typeof responses.attempt>, ReportAttempt>,
  Same<Out<typeof responses.task>, ReportTask>,
  Same<Out<typeof responses.run>, RunReport['run'] & { counts: Partial<Record<TaskStatus, number>> }>,
  Same<Out<typeof responses.event>, RunEvent>,
  Same<Out<typeof responses.worker>, FleetWorker>,
  Same<Out<typeof responses.pool>, PoolSummary>,
  Same<Out<typeof responses.handedOut>['attempt'], AttemptOrder>,
  Same<Out<typeof responses.handedOut>, HandedOut>,
  Same<Out<typeof responses.registered>, Registered>,
  Same<Out<typeof responses.beat>, HeartbeatAnswer>,
  Same<Out<typeof responses.finished>, Finished>,
  Same<Out<typeof responses.stop>, StopAnswer>,
  // The worker protocol's requests as the agent sends them are what the routes read.
  Same<Out<typeof registerBody>, RegisterRequest>,
  Same<Out<typeof claimBody>, ClaimRequest>,
  Same<Out<typeof heartbeatBody>, HeartbeatRequest>,
  Same<Out<typeof finishBody>, FinishRequest>,
  Same<Out<typeof stoppedBody>, AgentStop>,
] = [true, true, true, true, true, true, true, true, true, true, true, true, true, true, true, true, true];
void typesAgree;

type Document = {
  openapi: string;
  paths: Record<string, Record<string, { security: Record<string, string[]>[]; 'x-scopes'?: Scope[]; responses: Record<string, unknown> }>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
};

const routeKey = (method: string, path: string) => `${method.toUpperCase()} ${path}`;

describe('GET /api/v1/openapi.json', () => {
  const dir = tempDir();
  let store: Store;
  let coordinator: Coordinator;
  let app: ReturnType<typeof createApp>;
  let document: Document;
  const runs: Record<'shapes' | 'scopes', { id: string; joinToken: string }> = {} as never;
  const secrets = new Map<Scope, string>();

  beforeAll(async () => {
    ({ store, coordinator } = await testCoordinator(dir.path));
    app = createApp(coordinator, store.db, undefined, { startTimeoutMs: 120_000, clock: systemClock }, {}, new Mirrors({ root: join(dir.path, 'mirrors'), tryExpiryMs: 3600_000, fileRemotes: [] }));
    const pipeline = pipelineOf([{ name: 'build', over: ['v'] }], { matrix: { v: ['1', '2'] }, sourceDir: `${dir.path}/source` });
    for (const name of ['shapes', 'scopes'] as const) {
      const created = await coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: true });
      runs[name] = { id: created.runId, joinToken: created.joinToken };
    }
    for (const scope of ['read', 'submit', 'admin'] as const) secrets.set(scope, (await createToken(store.db, scope, [scope], Date.now())).secret);
    const response = await app.request('/api/v1/openapi.json');
    expect(response.status).toBe(200);
    document = JSON.parse(await response.text()) as Document;
  });

  afterAll(async () => {
    await coordinator.close();
    await store.close();
    dir.remove();
  });

  it('is OpenAPI 3.1, served without a token', () => {
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.components.securitySchemes).sort()).toEqual(['registration', 'token', 'worker']);
  });

  it('documents exactly the routes the app serves, the web UI aside', () => {
    // Middleware shows in app.routes as `ALL …/*`; a route shows once per handler.
    const served = (routes: { method: string; path: string }[]) =>
      new Set(routes.filter((r) => !r.path.includes('*')).map((r) => routeKey(r.method, r.path)));
    const pages = served(webUi().routes);
    const api = [...served(app.routes)].filter((route) => !pages.has(route));
    const documented = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => routeKey(method, path.replace(/\{(\w+)\}/g, ':$1'))));
    expect(new Set(documented).size).toBe(documented.length);
    expect(documented.sort()).toEqual(api.sort());
  });

  it('resolves every $ref', () => {
    const refs = [...JSON.stringify(document).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map(([, id]) => id!);
    expect(refs.length).toBeGreaterThan(20);
    for (const id of refs) expect(document.components.schemas, id).toHaveProperty(id);
  });

  it('names a scope for every user route, and only the worker schemes for worker routes', () => {
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const schemes = op.security.flatMap((s) => Object.keys(s));
        if (path.startsWith('/api/v1/worker/')) expect(schemes, `${method} ${path}`).toEqual([path.endsWith('/register') ? 'registration' : 'worker']);
        else if (path.startsWith('/api/v1/agent/')) expect(schemes, `${method} ${path}`).toEqual(['registration']);
        else if (path === '/api/v1/openapi.json') expect(schemes).toEqual([]);
        else expect(op.security, `${method} ${path}`).toEqual([{ token: op['x-scopes'] }]);
      }
    }
  });

  // What the document says each route needs is what the route asks for.
  const rank: Scope[] = ['read', 'submit', 'admin'];
  const scoped = Object.entries((openApiDocument() as Document).paths)
    .flatMap(([path, methods]) => Object.entries(methods).filter(([, op]) => op['x-scopes']).map(([method, op]) => ({ method, path, scope: op['x-scopes']![0]! })));
  it.each(scoped)('$method $path answers by its scope, $scope', async ({ method, path, scope }) => {
    const url = path.replace('{run}', runs.scopes.id).replace('{task}', 'build%5Bv%3D1%5D')
      .replace('{attempt}', 'a-000000000000').replace('{worker}', 'w-00000000');
    const ask = async (who?: Scope) => {
      const response = await app.request(url, {
        method: method.toUpperCase(), headers: who ? { authorization: `Bearer ${secrets.get(who)}` } : {},
        ...(method === 'post' && { body: '{}' }),
      });
      await response.body?.cancel();
      return response.status;
    };
    expect(await ask()).toBe(401);
    const below = rank[rank.indexOf(scope) - 1];
    if (below) expect(await ask(below)).toBe(403);
    expect([401, 403]).not.toContain(await ask(scope));
  });

  describe('holds real answers', () => {
    /** Parses with the documented schema: unknown fields would be dropped, so equality means none. */
    const fits = (schema: z.ZodType, body: unknown) => expect(schema.parse(body)).toEqual(body);
    const get = async (path: string) => {
      const response = await app.request(path, { headers: { authorization: `Bearer ${secrets.get('admin')}` } });
      expect(response.status, path).toBe(200);
      return response.json();
    };

    it('of the worker protocol', async () => {
      const register = await app.request('/api/v1/worker/register', {
        method: 'POST', body: JSON.stringify({ activity: 'builder', hostname: 'test', pid: 1 }), headers: { authorization: `Bearer ${runs.shapes.joinToken}` },
      });
      expect(register.status).toBe(200);
      const registered = await register.json() as { credential: string };
      fits(responses.registered, registered);
      const worker = { authorization: `Bearer ${registered.credential}` };
      const claim = await app.request('/api/v1/worker/claim', { method: 'POST', body: '{"wait_ms":0}', headers: worker });
      const handed = await claim.json() as { attempt: AttemptOrder };
      fits(responses.handedOut, handed);
      const beat = await app.request(`/api/v1/worker/attempts/${handed.attempt.id}/heartbeat`, { method: 'POST', body: '{"hold_ms":0}', headers: worker });
      fits(responses.beat, await beat.json());
      const finish = await app.request(`/api/v1/worker/attempts/${handed.attempt.id}/finish`, {
        method: 'POST', body: JSON.stringify({ outcome: 'succeeded', exit_code: 0, claim_next: true }), headers: worker,
      });
      const finished = await finish.json() as { next?: unknown };
      expect(finished.next).toBeDefined();
      fits(responses.finished, finished);
    });

    it('of the user API', async () => {
      const id = runs.shapes.id;
      fits(responses.me, await get('/api/v1/me'));
      fits(responses.runs, await get('/api/v1/runs'));
      fits(responses.runDetail, await get(`/api/v1/runs/${id}`));
      fits(responses.task, await get(`/api/v1/runs/${id}/tasks/build%5Bv%3D1%5D`));
      fits(responses.workers, await get(`/api/v1/workers?run=${id}`));
      fits(responses.activities, await get('/api/v1/activities'));
      fits(responses.pools, await get('/api/v1/pools'));
      const cancel = await app.request(`/api/v1/runs/${id}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${secrets.get('submit')}` } });
      fits(responses.oneRun, await cancel.json());
      const rerun = await app.request(`/api/v1/runs/${id}/rerun`, { method: 'POST', headers: { authorization: `Bearer ${secrets.get('submit')}` } });
      fits(responses.rerun, await rerun.json());
      const missing = await app.request('/api/v1/runs/r-00000000', { headers: { authorization: `Bearer ${secrets.get('read')}` } });
      expect(missing.status).toBe(404);
      fits(responses.error, await missing.json());
    });
  });
});
