import { lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.ts';
import type { Coordinator } from '../../src/coordinator/coordinator.ts';
import { LogFiles } from '../../src/coordinator/log-files.ts';
import { expandTasks } from '../../src/pipeline/expand.ts';
import type { Store } from '../../src/store/store.ts';
import { createToken } from '../../src/store/tokens.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { waitFor } from '../helpers/processes.ts';
import { tempDir } from '../helpers/temp.ts';

/**
 * Ids in routes become log file names. Every route that takes an id, given ids built to
 * climb out of the state directory, serves no file from outside it and writes none
 * anywhere: canary files planted at every level a climb could reach are never served,
 * and the directory holds the same files before and after. test/api/bad-input.test.ts
 * checks the status codes; this checks the disk.
 */

const secret = `CANARY-${randomBytes(8).toString('hex')}`;
const written = `WRITTEN-${randomBytes(8).toString('hex')}`;
const marker = `slipway-canary-${process.pid}-${Date.now()}`;

/** Every file under `root` with its content (links not followed). */
function files(root: string): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const stats = lstatSync(path);
      if (stats.isDirectory()) walk(path);
      else found.set(relative(root, path), stats.isFile() ? readFileSync(path, 'latin1') : 'special');
    }
  };
  walk(root);
  return found;
}

describe('ids that name files', () => {
  const dir = tempDir('slipway-ids-');
  const state = join(dir.path, 'state');
  let store: Store;
  let coordinator: Coordinator;
  let app: ReturnType<typeof createApp>;
  let admin: string;
  let credential: string;
  let runId: string;
  let workerId: string;
  let attemptId: string;
  let tricks: string[];

  beforeAll(async () => {
    let sourceDir: string;
    ({ store, coordinator, sourceDir } = await testCoordinator(state));
    app = createApp(coordinator, store.db);
    admin = (await createToken(store.db, 'admin', ['admin'], Date.now())).secret;
    const pipeline = pipelineOf([{ name: 'build' }], { sourceDir });
    const created = await coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: true });
    runId = created.runId;
    const joined = await coordinator.register(created.joinToken, { activity: 'builder' });
    if (joined.kind !== 'registered') throw new Error('no worker');
    credential = joined.credential;
    workerId = joined.workerId;
    const claimed = await app.request('/api/v1/worker/claim', { method: 'POST', body: '{"wait_ms":0}', headers: { authorization: `Bearer ${credential}` } });
    attemptId = ((await claimed.json()) as { attempt: { id: string } }).attempt.id;
    await app.request(`/api/v1/worker/attempts/${attemptId}/output`, { method: 'POST', body: 'real output\n', headers: { authorization: `Bearer ${credential}` } });
    await waitFor(async () => (await get(`/api/v1/attempts/${attemptId}/log`)).includes('real output'), 5_000, 'the attempt log');

    // Canaries wherever a climb from logs/<run>/attempts/ or workers/ could land.
    const levels = [dir.path, state, join(state, 'logs'), join(state, 'logs', runId), join(state, 'logs', runId, 'attempts'), join(state, 'logs', runId, 'workers'), join(state, 'sources')];
    for (const level of levels) {
      mkdirSync(level, { recursive: true });
      for (const name of ['canary', 'canary.log', 'canary.agent.log', 'canary.tar.gz']) writeFileSync(join(level, name), `${secret}\n`);
    }

    const climbs = [1, 2, 3, 4, 5, 6, 12].flatMap((n) => [
      `${'..%2F'.repeat(n)}canary`,
      `${'%2e%2e%2f'.repeat(n)}canary`,
      `${'%252e%252e%252f'.repeat(n)}canary`,
      `${'..%5C'.repeat(n)}canary`,
      `a-000000000000%2F${'..%2F'.repeat(n)}canary`,
    ]);
    tricks = [
      ...climbs,
      encodeURIComponent(join(dir.path, 'canary')),
      encodeURIComponent(join(state, 'logs', 'canary')),
      encodeURIComponent(join(tmpdir(), marker)),
      '%2e%2e', '..', '.', '%00', `a-000000000000%00`, `${'..%2F'.repeat(3)}canary%00`, 'canary',
      `${attemptId}%2F..%2F..%2F..%2Fcanary`, `${workerId}%2F..%2F..%2Fcanary`, `${runId}%2F..%2Fcanary`,
      `${attemptId}%00`, `${runId}%0A`, ` ${runId}`, `${runId.toUpperCase()}`,
      'x'.repeat(10_000), `${'..%2F'.repeat(2_000)}canary`,
    ];
  });

  afterAll(async () => {
    await coordinator.close();
    await store.close();
    dir.remove();
  });

  async function get(path: string, credentials = admin): Promise<string> {
    const response = await app.request(path, { headers: { authorization: `Bearer ${credentials}` } });
    return response.text();
  }

  /** Reads at most a moment of a response, so a stream that was wrongly opened still ends. */
  async function read(response: Response): Promise<string> {
    if (!response.body) return '';
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const deadline = Date.now() + 300;
    while (Date.now() < deadline) {
      const next = await Promise.race([reader.read(), new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), 300))]);
      if (next === 'late' || next.done) break;
      text += next.value;
    }
    await reader.cancel().catch(() => undefined);
    return text;
  }

  function baseline(param: string): string {
    switch (param) {
      case 'run': return runId;
      case 'worker': return workerId;
      case 'attempt': case 'id': return attemptId;
      case 'task': return 'build';
      case 'file': return 'index.js';
      case 'sha256': return '0'.repeat(64);
      default: throw new Error(`no baseline for :${param}: add one`);
    }
  }

  function bodyFor(path: string): string {
    if (/\/(output|log)$/.test(path)) return `${written}\n`;
    if (path.endsWith('/finish')) return '{"outcome":"failed"}';
    return '{}';
  }

  it('serve the files they should: the sweep below is not vacuous', async () => {
    expect(await get(`/api/v1/attempts/${attemptId}/log`)).toContain('real output');
    expect(await get(`/api/v1/workers/${workerId}/log`)).toContain('registered as');
  });

  it('never serve a file outside the state directory, nor write one anywhere, on any route', async () => {
    const before = files(dir.path);
    const routes = new Map<string, { method: string; path: string }>();
    for (const route of app.routes) if (route.method !== 'ALL' && route.path.includes('/:')) routes.set(`${route.method} ${route.path}`, route);
    expect([...routes.keys()]).toEqual(expect.arrayContaining([
      'GET /api/v1/attempts/:attempt/log', 'GET /api/v1/attempts/:attempt/log/stream', 'GET /api/v1/workers/:worker/log',
      'POST /api/v1/worker/attempts/:id/output', 'GET /api/v1/runs/:run',
    ]));
    let calls = 0;
    for (const route of routes.values()) {
      const params = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1]!);
      for (const param of params) {
        for (const trick of tricks) {
          const path = route.path.replace(/:(\w+)(\{[^}]*\})?/g, (_, name: string) => (name === param ? trick : baseline(name)));
          const credentials = path.startsWith('/api/v1/worker/') ? credential : admin;
          const init = route.method === 'GET' ? {} : { body: bodyFor(route.path) };
          const response = await app.request(path, { method: route.method, ...init, headers: { authorization: `Bearer ${credentials}` } });
          const text = await read(response);
          calls++;
          expect(response.status, `${route.method} ${path.slice(0, 100)}`).toBeLessThan(500);
          expect(text, `${route.method} ${path.slice(0, 100)}`).not.toContain(secret);
        }
      }
    }
    const queries = ['/api/v1/runs?before=', '/api/v1/runs?pipeline=', '/api/v1/workers?run=', '/api/v1/workers?state=', '/api/v1/events?run='];
    for (const query of queries) {
      for (const trick of tricks) {
        const response = await app.request(`${query}${trick}`, { headers: { authorization: `Bearer ${admin}` } });
        expect(await read(response), `${query}${trick.slice(0, 100)}`).not.toContain(secret);
        calls++;
      }
    }
    expect(calls).toBeGreaterThan(500);

    const after = files(dir.path);
    const changed = [...after].filter(([path, content]) => before.get(path) !== content && !path.startsWith('state/db')).map(([path]) => path);
    expect(changed).toEqual([]);
    for (const [path, content] of after) expect(content.includes(written), path).toBe(false);
    expect(readdirSync(tmpdir()).filter((name) => name.includes(marker))).toEqual([]);
  });

  it('cannot be made into paths by any caller of LogFiles', () => {
    const logs = new LogFiles(join(state, 'logs'));
    expect(logs.attemptPath(runId, attemptId)).toBe(join(state, 'logs', runId, 'attempts', `${attemptId}.log`));
    for (const bad of ['../canary', '/etc/passwd', `${runId}/..`, '', `${runId}\0`, 'r-0000000g']) {
      expect(() => logs.attemptPath(bad, attemptId)).toThrow(/not a valid run id/);
      expect(() => logs.workerPath(runId, bad)).toThrow(/not a valid worker id/);
      expect(() => logs.agentPath(runId, bad)).toThrow(/not a valid worker id/);
      expect(() => logs.attemptPath(runId, bad)).toThrow(/not a valid attempt id/);
    }
  });
});
