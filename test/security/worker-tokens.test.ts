import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, ScriptExecutor } from '../../src/agent/agent.ts';
import { createApp } from '../../src/api/app.ts';
import { credentialRefused } from '../../src/api/worker-routes.ts';
import { listen } from '../../src/api/http-server.ts';
import type { Coordinator } from '../../src/coordinator/coordinator.ts';
import type { Scope } from '../../src/engine/scopes.ts';
import { expandTasks } from '../../src/pipeline/expand.ts';
import type { Store } from '../../src/store/store.ts';
import { createToken } from '../../src/store/tokens.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { waitFor } from '../helpers/processes.ts';
import { tempDir } from '../helpers/temp.ts';

const dir = tempDir();
let store: Store;
let coordinator: Coordinator;
let app: ReturnType<typeof createApp>;
let sourceDir: string;
const secrets = new Map<Scope, string>();

beforeAll(async () => {
  ({ store, coordinator, sourceDir } = await testCoordinator(dir.path));
  app = createApp(coordinator, store.db);
  await newRun();
  for (const scope of ['read', 'submit', 'admin', 'worker'] as const) secrets.set(scope, (await createToken(store.db, scope, [scope], Date.now())).secret);
});

afterAll(async () => {
  await coordinator.close();
  await store.close();
  dir.remove();
});

function newRun(script = 'true', steps = ['build']) {
  const pipeline = pipelineOf(steps.map((name) => ({ name, run: { kind: 'inline', text: script } })), { sourceDir });
  return coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: true });
}

/** Who may register a worker, and what a worker token may do besides. */
describe('registering a hand-started worker', () => {
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

/** A worker's credential ends with its worker, whoever holds a copy. */
describe('a worker credential', () => {
  /** A hand-started worker of a new run of two tasks, so that one finished leaves the run running. */
  async function joined() {
    const run = await newRun('true', ['build', 'test']);
    const registration = await coordinator.register(run.joinToken, { activity: 'builder' });
    if (registration.kind !== 'registered') throw new Error(`not registered: ${registration.kind}`);
    const as = (method: string, path: string, body?: string) => app.request(`/api/v1/worker${path}`, {
      method, headers: { authorization: `Bearer ${registration.credential}`, 'content-type': 'application/json' }, ...(body !== undefined && { body }),
    });
    return { ...run, registration, as };
  }

  /** Every route a worker may use, with a body each would accept. */
  const everyRoute = (attempt: string): [string, string, string?][] => [
    ['POST', '/claim', '{"wait_ms":0}'],
    ['POST', `/attempts/${attempt}/heartbeat`, '{"hold_ms":0}'],
    ['POST', `/attempts/${attempt}/output`, 'late output\n'],
    ['POST', `/attempts/${attempt}/finish`, '{"outcome":"succeeded","exit_code":0}'],
    ['POST', '/log', 'late log line\n'],
    ['POST', '/stopped', '{"cause":"idle","reason":"again"}'],
    ['GET', '/source'],
  ];

  it('opens the source and the log while its worker lives', async () => {
    const { as } = await joined();
    const source = await as('GET', '/source');
    expect(source.status).toBe(200);
    await source.body?.cancel();
    expect((await as('POST', '/log', 'a line\n')).status).toBe(204);
  });

  it('is refused with 401 on every route once its worker stopped', async () => {
    const { as } = await joined();
    const claimed = await (await as('POST', '/claim', '{"wait_ms":0}')).json() as { attempt: { id: string } };
    expect((await as('POST', `/attempts/${claimed.attempt.id}/finish`, '{"outcome":"succeeded","exit_code":0}')).status).toBe(200);
    expect((await as('POST', '/stopped', '{"cause":"idle","reason":"idle"}')).status).toBe(204);
    for (const [method, path, body] of everyRoute(claimed.attempt.id)) {
      const response = await as(method, path, body);
      expect(response.status, `${method} ${path}`).toBe(401);
      expect(await response.json()).toEqual({ error: credentialRefused });
    }
  });

  it('is refused with 401 on every route once its worker was lost, its attempt in hand included', async () => {
    const { as, registration } = await joined();
    const claimed = await (await as('POST', '/claim', '{"wait_ms":0}')).json() as { attempt: { id: string } };
    await coordinator.loseWorker(registration.workerId, 'no heartbeat for 61s');
    for (const [method, path, body] of everyRoute(claimed.attempt.id)) {
      const response = await as(method, path, body);
      expect(response.status, `${method} ${path}`).toBe(401);
    }
  });

  it('is refused with 401 on every route once the runs of its pool finished, saying it stopped included', async () => {
    const { as, runId } = await joined();
    const claimed = await (await as('POST', '/claim', '{"wait_ms":0}')).json() as { attempt: { id: string } };
    // The worker's pool serves every run of its activity: it goes on while one still runs.
    const others = await store.db.selectFrom('runs').select('id').where('status', '=', 'running').where('id', '!=', runId).execute();
    for (const other of others) await coordinator.cancelRun(other.id, 'cancelled by a test');
    expect((await as('POST', '/log', 'still serving\n')).status).toBe(204);
    await coordinator.cancelRun(runId, 'cancelled by a test');
    for (const [method, path, body] of everyRoute(claimed.attempt.id)) {
      const response = await as(method, path, body);
      expect(response.status, `${method} ${path}`).toBe(401);
      expect(await response.json()).toEqual({ error: credentialRefused });
    }
    // No result of its can be taken any more, so its attempt ended with the run.
    const attempt = await store.db.selectFrom('attempts').select(['outcome', 'error']).where('id', '=', claimed.attempt.id).executeTakeFirstOrThrow();
    expect(attempt).toEqual({ outcome: 'cancelled', error: 'cancelled by a test' });
  });
});

describe('an agent whose worker was given up on', () => {
  it('hears 401 on its next heartbeat, stops its task at once and exits', async () => {
    const listening = await listen(app, '127.0.0.1', 0);
    try {
      const run = await newRun('sleep 30');
      const said: string[] = [];
      const agent = new Agent({
        server: listening.url, token: run.joinToken, activity: 'builder',
        executor: new ScriptExecutor(dir.path), say: (line) => said.push(line), preparedDir: `${dir.path}/prepared`,
      });
      const ended = agent.run();
      const started = () => store.db.selectFrom('attempts').select(['id', 'worker_id']).where('run_id', '=', run.runId).executeTakeFirst();
      await waitFor(async () => (await started()) !== undefined, 20_000, 'the task to start');
      const attempt = (await started())!;
      await coordinator.loseWorker(attempt.worker_id, 'no heartbeat for 61s');
      // Its next heartbeat is refused: the task is stopped, not run to its end.
      expect(await ended).toEqual({ cause: 'task_failed', reason: 'task build cancelled' });
      expect(said).toContain(`attempt ${attempt.id} is no longer ours`);
    } finally {
      await listening.close();
    }
  });
});
