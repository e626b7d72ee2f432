import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.ts';
import { listen, type Listening } from '../../src/api/http-server.ts';
import { workerLimits } from '../../src/api/worker-routes.ts';
import type { Coordinator } from '../../src/coordinator/coordinator.ts';
import { expandTasks } from '../../src/pipeline/expand.ts';
import type { Store } from '../../src/store/store.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { tempDir } from '../helpers/temp.ts';

/**
 * The limits on request bodies, over a real HTTP server: a body that states its length is
 * judged by it, one streamed without a length is counted as it comes (test/api/bad-input
 * checks every route through the app alone, where no body states its length).
 */
const dir = tempDir();
let store: Store;
let coordinator: Coordinator;
let server: Listening;
let joinToken: string;

beforeAll(async () => {
  let sourceDir: string;
  ({ store, coordinator, sourceDir } = await testCoordinator(dir.path));
  server = await listen(createApp(coordinator, store.db), '127.0.0.1', 0);
  const pipeline = pipelineOf([{ name: 'build', run: { kind: 'inline', text: 'true' } }], { sourceDir });
  ({ joinToken } = await coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: true }));
});

afterAll(async () => {
  await server.close();
  await coordinator.close();
  await store.close();
  dir.remove();
});

type Sent = 'with its length' | 'streamed';

function post(path: string, token: string, body: string, sent: Sent) {
  const bytes = new TextEncoder().encode(body);
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(sent === 'with its length'
      ? { body }
      : { body: new ReadableStream<Uint8Array>({ start(controller) { controller.enqueue(bytes); controller.close(); } }), duplex: 'half' }),
  } as RequestInit);
}

const registration = (padding: number) => JSON.stringify({ activity: 'builder', hostname: 'h'.repeat(10), pid: 1 }).replace(/}$/, `${' '.repeat(padding)}}`);
const workers = () => store.db.selectFrom('workers').select('id').execute();

describe.each<Sent>(['with its length', 'streamed'])('a JSON body sent %s', (sent) => {
  it('is refused with 413 when over the limit, and nothing is done', async () => {
    const before = await workers();
    const answer = await post('/api/v1/worker/register', joinToken, registration(workerLimits.jsonBodyBytes), sent);
    expect(answer.status).toBe(413);
    expect(await answer.json()).toEqual({ error: `the body is over ${workerLimits.jsonBodyBytes} bytes` });
    expect(await workers()).toEqual(before);
  });

  it('is taken at the limit', async () => {
    const body = registration(0);
    const atLimit = registration(workerLimits.jsonBodyBytes - Buffer.byteLength(body));
    expect(Buffer.byteLength(atLimit)).toBe(workerLimits.jsonBodyBytes);
    const answer = await post('/api/v1/worker/register', joinToken, atLimit, sent);
    expect(answer.status).toBe(200);
    const { credential } = await answer.json() as { credential: string };

    // A worker's log chunk is text with a limit of its own.
    const line = 'x'.repeat(workerLimits.outputChunkBytes);
    expect((await post('/api/v1/worker/log', credential, line, sent)).status).toBe(204);
    const over = await post('/api/v1/worker/log', credential, `${line}x`, sent);
    expect(over.status).toBe(413);
    expect(await over.json()).toEqual({ error: `an output chunk is limited to ${workerLimits.outputChunkBytes} bytes` });
  });
});
