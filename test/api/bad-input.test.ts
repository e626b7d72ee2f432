import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.ts';
import { defaultRetention } from '../../src/config/retention.ts';
import { GarbageCollector } from '../../src/coordinator/retention.ts';
import { systemClock } from '../../src/engine/clock.ts';
import { userLimits } from '../../src/api/user-routes.ts';
import { webRoot } from '../../src/api/web-ui.ts';
import { workerLimits } from '../../src/api/worker-routes.ts';
import type { Coordinator } from '../../src/coordinator/coordinator.ts';
import { packSource } from '../../src/coordinator/source-archive.ts';
import { expandTasks } from '../../src/pipeline/expand.ts';
import type { Store } from '../../src/store/store.ts';
import { createToken } from '../../src/store/tokens.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { tempDir } from '../helpers/temp.ts';

/**
 * Every route of the app, called with valid credentials and bad input, answers a 4xx with
 * `{ error }` (or its normal 2xx where the input is in fact acceptable), never a 5xx, and
 * answers quickly. The routes come from `createApp(...).routes`, so a new route is swept
 * without touching this file.
 */

const timeBoundMs = 5_000;
const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/** Values put in a path parameter, already URL-encoded. */
const pathTricks: [name: string, value: string][] = [
  ['traversal', '..%2F..%2Fadmin.token'],
  ['dot segments', '%2e%2e'],
  ['NUL', '%00'],
  ['NUL inside', 'r-0000%000000'],
  ['10,000 characters', 'x'.repeat(10_000)],
  ['unicode', encodeURIComponent('ünï☃😀')],
  ['bad percent-encoding', '%E0%A4%A'],
  ['lone percent', '%'],
  ['well-formed but unknown run id', 'r-zzzzzzzz'],
  ['unknown ids', 'r-00000000'],
  ['encoded slash', 'a%2Fb'],
];

/** JSON-ish bodies that no POST route accepts (none is empty: an empty body means `{}`). */
const badBodies: [name: string, body: string][] = [
  ['malformed JSON', '{'],
  ['truncated JSON', '{"wait_ms":'],
  ['wrong type', '{"wait_ms":"x"}'],
  ['wrong types everywhere', '{"wait_ms":"x","hold_ms":[],"outcome":5,"cause":null,"activity":{},"source":1,"file":[]}'],
  ['an array', '[]'],
  ['an array of objects', '[{"wait_ms":0}]'],
  ['null', 'null'],
  ['a number', '5'],
  ['a string', '"hello"'],
  ['true', 'true'],
  ['an unknown field', '{"zzz":1}'],
  ['an unknown field beside valid ones', '{"wait_ms":0,"hold_ms":0,"zzz":1}'],
  ['a prototype key', '{"__proto__":{"wait_ms":0},"constructor":{"prototype":{}}}'],
  ['deep nesting', `${'['.repeat(5_000)}${']'.repeat(5_000)}`],
  ['NUL and invalid UTF-8', '{"activity":"\u0000\udc00"}'],
];

/** Query strings for GET routes: unknown parameters, wrong types, tricks. */
const queryTricks = [
  '?zzz=1',
  '?limit=x',
  '?limit=-1',
  '?limit=1e9',
  '?limit=1&limit=2',
  '?status=nope',
  '?before=..%2F..%2Fadmin.token',
  '?before=r-zzzzzzzz',
  '?run=r-zzzzzzzz',
  '?run=%00',
  '?state=%00',
  `?run=${'x'.repeat(10_000)}`,
  '?pipeline=%E0%A4%A',
  '?revision=%25',
  '?revision=ABC_',
  '?branch=%00',
];

interface Route { method: string; path: string }

describe('bad input never makes a route answer 5xx or hang', () => {
  const dir = tempDir();
  let store: Store;
  let coordinator: Coordinator;
  let app: ReturnType<typeof createApp>;
  let admin: string;
  let credential: string;
  let joinToken: string;
  let runId: string;
  let victimRunId: string;
  let workerId: string;
  let digest: string;
  let routes: Route[];
  let calls = 0;
  const started = Date.now();
  const webBuilt = existsSync(join(webRoot, 'index.html'));

  beforeAll(async () => {
    let sourceDir: string;
    ({ store, coordinator, sourceDir } = await testCoordinator(dir.path));
    // As a server has it: with the collector that POST /gc runs.
    const collector = new GarbageCollector({ store, stateDir: dir.path, policy: defaultRetention, blobs: coordinator.artifacts.blobs, clock: systemClock });
    app = createApp(coordinator, store.db, undefined, undefined, {}, undefined, collector);
    admin = (await createToken(store.db, 'admin', ['admin'], Date.now())).secret;
    const pipeline = pipelineOf([{ name: 'build' }], { sourceDir });
    const run = async () => coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: true });
    const worked = await run();
    runId = worked.runId;
    const joined = await coordinator.register(worked.joinToken, { activity: 'builder' });
    if (joined.kind !== 'registered') throw new Error('no worker');
    credential = joined.credential;
    workerId = joined.workerId;
    // A second run's join token stays unused: /register is called with it and bad bodies only.
    joinToken = (await run()).joinToken;
    // Cancel and rerun act on a third run, so they cannot end the worker's.
    victimRunId = (await run()).runId;

    // A source tree with a link out of it, for the escape checks of POST /runs.
    mkdirSync(join(sourceDir, 'sub'), { recursive: true });
    writeFileSync(join(sourceDir, 'sub', 'inner.yml'), 'not: [a pipeline\n');
    symlinkSync('/etc/passwd', join(sourceDir, 'escape.yml'));
    symlinkSync('..', join(sourceDir, 'up'));
    digest = await packSource(sourceDir, await coordinator.sources());

    const seen = new Set<string>();
    routes = [];
    for (const route of app.routes) {
      if (route.method === 'ALL') continue; // middleware
      const key = `${route.method} ${route.path}`;
      if (seen.has(key)) continue; // a route with its own middleware (bodyLimit) is listed twice
      seen.add(key);
      routes.push({ method: route.method, path: route.path });
    }
  });

  afterAll(async () => {
    console.log(`bad-input sweep: ${calls} calls over ${routes.length} routes in ${Date.now() - started} ms`);
    await coordinator.close();
    await store.close();
    dir.remove();
  });

  const isWorkerRoute = (path: string) => path.startsWith('/api/v1/worker/');
  const isWebPage = (route: Route) => route.method === 'GET' && ['/', '/workers', '/runs/:run'].includes(route.path);

  function credentialFor(path: string): string {
    if (path === '/api/v1/worker/register') return joinToken;
    return isWorkerRoute(path) ? credential : admin;
  }

  /** A valid value for each path parameter, so that only the trick under test is wrong. */
  function baseline(route: Route, param: string): string {
    switch (param) {
      case 'run': return route.method === 'POST' ? victimRunId : runId;
      case 'task': return 'build';
      case 'worker': return workerId;
      case 'attempt': case 'id': return 'a-000000000000';
      case 'file': return 'index.js';
      case 'name': return 'BAD_INPUT_SECRET';
      case 'sha256': return '0'.repeat(64);
      default: throw new Error(`no baseline for the path parameter :${param} of ${route.path}: add one`);
    }
  }

  function fill(route: Route, trick?: { param: string; value: string }): string {
    return route.path.replace(/:(\w+)(\{[^}]*\})?/g, (_, param: string) => (trick?.param === param ? trick.value : baseline(route, param)));
  }

  const params = (route: Route) => [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1]!);

  /** Calls the app with a time bound; checks the answer is no 5xx and errors are `{ error }`. */
  async function call(path: string, init: RequestInit & { method: string }, allowed?: number[], route?: Route): Promise<Response> {
    calls++;
    const what = `${init.method} ${path.slice(0, 120)}${path.length > 120 ? '…' : ''}`;
    let timer: NodeJS.Timeout | undefined;
    const controller = new AbortController();
    const answer = Promise.resolve(app.request(path, { ...init, signal: controller.signal }));
    const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeBoundMs); });
    const response = await Promise.race([answer, timeout]);
    clearTimeout(timer);
    if (response === 'timeout') {
      controller.abort();
      throw new Error(`${what} gave no answer within ${timeBoundMs} ms`);
    }
    const type = response.headers.get('content-type') ?? '';
    if (type.startsWith('text/event-stream')) {
      await response.body?.cancel();
    } else if (response.status === 503 && route && isWebPage(route) && !webBuilt) {
      // The web UI is not built in this checkout: the page says so on purpose.
      await response.body?.cancel();
    } else {
      expect(response.status, `${what} answered ${response.status}`).toBeLessThan(500);
      if (response.status >= 400) {
        expect(type, `${what} answered ${response.status} as ${type}`).toContain('application/json');
        const body = await response.clone().json() as { error?: unknown; stop?: unknown };
        // The worker protocol answers 409/410 `{ stop }` to tell an agent to let go (docs/worker-protocol.md).
        const said = (response.status === 409 || response.status === 410) && route && isWorkerRoute(route.path) ? body.error ?? body.stop : body.error;
        expect(typeof said, `${what} answered ${JSON.stringify(body).slice(0, 200)}`).toBe('string');
      }
      if (route?.path === '/api/v1/worker/source') await response.body?.cancel();
    }
    if (allowed) expect(allowed, `${what} answered ${response.status}`).toContain(response.status);
    return response;
  }

  const auth = (path: string) => ({ authorization: `Bearer ${credentialFor(path)}` });

  it('finds the routes of the app', () => {
    expect(routes.length).toBeGreaterThan(20);
    for (const path of ['/api/v1/worker/claim', '/api/v1/runs', '/api/v1/runs/:run', '/api/v1/events', '/metrics']) {
      expect(routes.map((r) => r.path)).toContain(path);
    }
  });

  it('answers every route with the right credential and a trick in each path parameter', async () => {
    for (const route of routes) {
      for (const param of params(route)) {
        for (const [, value] of pathTricks) {
          const path = fill(route, { param, value });
          // A POST gets a body no route accepts, so nothing is done even if the trick slipped through.
          const init = route.method === 'POST' ? { method: 'POST', body: '{"zzz":1}', headers: auth(path) } : { method: route.method, headers: auth(path) };
          await call(path, init, undefined, route);
        }
      }
    }
  });

  it('answers every GET route with unknown, mistyped and tricky query parameters', async () => {
    for (const route of routes.filter((r) => r.method === 'GET')) {
      for (const query of queryTricks) {
        const path = fill(route) + query;
        await call(path, { method: 'GET', headers: { ...auth(path), 'last-event-id': 'not-a-number' } }, undefined, route);
      }
    }
  });

  it('refuses bad JSON bodies on every POST route', async () => {
    for (const route of routes.filter((r) => r.method === 'POST')) {
      const path = fill(route);
      for (const [, body] of badBodies) {
        const response = await call(path, { method: 'POST', body, headers: { ...auth(path), 'content-type': 'application/json' } }, undefined, route);
        if (route.path === '/api/v1/runs' || (isWorkerRoute(route.path) && !/\/(output|log)$/.test(route.path))) {
          expect(response.status, `POST ${route.path} with ${body.slice(0, 40)}`).toBe(400);
        }
      }
    }
  });

  it('refuses bodies over the documented limits with 413', async () => {
    const over = (bytes: number) => `{"zzz":"${'x'.repeat(bytes)}"}`;
    for (const route of routes.filter((r) => r.method === 'POST')) {
      const path = fill(route);
      let limit: number | undefined;
      if (/\/(output|log)$/.test(route.path) && isWorkerRoute(route.path)) limit = workerLimits.outputChunkBytes;
      else if (route.path.endsWith('/artifacts') || route.path.endsWith('/cache/entries')) limit = undefined;
      else if (isWorkerRoute(route.path)) limit = workerLimits.jsonBodyBytes;
      else if (route.path === '/api/v1/runs') limit = userLimits.jsonBytes;
      if (limit === undefined) {
        // Cancel, rerun, sources, artifacts and cache entries take no JSON; a big body must still not hurt them.
        await call(path, { method: 'POST', body: over(workerLimits.outputChunkBytes), headers: auth(path) }, undefined, route);
        continue;
      }
      await call(path, { method: 'POST', body: over(limit), headers: auth(path) }, [413], route);
      // The same body streamed, with no content-length to check up front, is still refused.
      const bytes = new TextEncoder().encode(over(limit));
      const body = new ReadableStream<Uint8Array>({ start(controller) { controller.enqueue(bytes); controller.close(); } });
      await call(path, { method: 'POST', body, duplex: 'half', headers: auth(path) } as RequestInit & { method: string }, [413], route);
    }
  });

  it('answers unknown routes and wrong methods with a JSON 404', async () => {
    const registered = new Set(routes.map((r) => `${r.method} ${r.path}`));
    for (const route of routes) {
      for (const method of methods) {
        if (registered.has(`${method} ${route.path}`)) continue;
        const path = fill(route);
        // /register's join token is no worker credential: the worker routes' guard answers 401 first.
        const expected = route.path === '/api/v1/worker/register' ? [401] : [404];
        await call(path, { method, headers: auth(path), ...(method === 'GET' ? {} : { body: '{"zzz":1}' }) }, expected, route);
      }
    }
    const unknown = [
      '/api/v1/nope', '/api/v2/runs', '/api/v1/worker/nope', '/api/v1/worker/attempts/a-000000000000/nope',
      `/api/v1/runs/${'r-00000000'}/nope`, '/api/v1/runs/r-00000000/tasks', '/api/v1/..%2F..%2Fadmin.token',
      '/assets/..%2F..%2Fpackage.json', '/assets/.hidden', '/assets/%00', `/${'x'.repeat(10_000)}`, '/%E0%A4%A', '/%00',
      '/api/v1/worker', '/api/v1/', '//api//v1//runs',
    ];
    for (const path of unknown) {
      for (const method of ['GET', 'POST'] as const) {
        await call(path, { method, headers: auth(path), ...(method === 'POST' ? { body: '{"zzz":1}' } : {}) }, [401, 404]);
      }
    }
  });

  it('refuses a pipeline file outside the source tree with 400', async () => {
    for (const file of ['../x', '/etc/passwd', 'sub/../../x', './../x', 'up/db', 'up/source/README', 'escape.yml', '..', '.', 'sub', 'nope.yml']) {
      const body = JSON.stringify({ source: digest, file });
      const response = await call('/api/v1/runs', { method: 'POST', body, headers: auth('/api/v1/runs') });
      expect(response.status, `file ${file}`).toBe(400);
      expect(JSON.stringify(await response.json())).not.toContain('root:');
    }
  });

  it('refuses an upload that is not a .tar.gz with 400', async () => {
    const upload = await call('/api/v1/sources', { method: 'POST', body: '{', headers: auth('/api/v1/sources') }, [400]);
    expect(await upload.json()).toEqual({ error: expect.stringMatching(/^the source archive is refused: it is not a \.tar\.gz/) });
  });
});
