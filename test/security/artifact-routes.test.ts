import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.ts';
import type { Coordinator } from '../../src/coordinator/coordinator.ts';
import { expandTasks } from '../../src/pipeline/expand.ts';
import type { Store } from '../../src/store/store.ts';
import { createToken } from '../../src/store/tokens.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { tempDir } from '../helpers/temp.ts';

const dir = tempDir();
let store: Store;
let coordinator: Coordinator;
let app: ReturnType<typeof createApp>;
let sourceDir: string;
let read: string;

beforeAll(async () => {
  ({ store, coordinator, sourceDir } = await testCoordinator(dir.path));
  app = createApp(coordinator, store.db);
  read = (await createToken(store.db, 'reader', ['read'], Date.now())).secret;
});

afterAll(async () => {
  await coordinator.close();
  await store.close();
  dir.remove();
});

/** A run of a step that keeps dist/*.txt and one that needs it, with a worker holding the first step's attempt. */
async function workerWithAttempt() {
  const pipeline = pipelineOf([{ name: 'build', artifacts: ['dist/*.txt'] }, { name: 'publish', needs: ['build'] }], { sourceDir });
  const run = await coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: true });
  const registration = await coordinator.register(run.joinToken, { activity: 'builder' });
  if (registration.kind !== 'registered') throw new Error(`not registered: ${registration.kind}`);
  const as = (method: string, path: string, body?: string) => app.request(`/api/v1/worker${path}`, {
    method, headers: { authorization: `Bearer ${registration.credential}` }, ...(body !== undefined && { body }),
  });
  const claimed = await (await as('POST', '/claim', '{"wait_ms":0}')).json() as { attempt: { id: string } };
  const upload = (path: string, body: string, attempt = claimed.attempt.id) => as('POST', `/attempts/${attempt}/artifacts?path=${encodeURIComponent(path)}`, body);
  return { runId: run.runId, attempt: claimed.attempt.id, as, upload };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('artifact uploads', () => {
  it('keeps what the step declares, from the attempt in hand, and nothing else', async () => {
    const { runId, upload } = await workerWithAttempt();
    const kept = await upload('dist/app.txt', 'the package\n');
    expect(kept.status).toBe(201);
    expect(await kept.json()).toMatchObject({ task: 'build', path: 'dist/app.txt', size: 12, sha256: sha256('the package\n'), content_type: 'text/plain; charset=utf-8' });

    for (const [path, error] of [
      ['../../state/admin.token', /expected a plain path/],
      ['/etc/passwd', /expected a relative path/],
      ['dist/./app.txt', /expected a plain path/],
      ['dist/app.sh', /matches none of step build's artifacts \(dist\/\*\.txt\)/],
    ] as const) {
      const refused = await upload(path, 'x');
      expect(refused.status, path).toBe(400);
      expect((await refused.json() as { error: string }).error).toMatch(error);
    }
    // Nothing but the one file was recorded, and its task has not even finished: no one lists it yet.
    const listed = await app.request(`/api/v1/runs/${runId}/artifacts`, { headers: { authorization: `Bearer ${read}` } });
    expect(await listed.json()).toEqual({ artifacts: [] });
  });

  it('refuses a worker uploading to another worker\'s attempt, and fetching another run\'s bytes', async () => {
    const victim = await workerWithAttempt();
    expect((await victim.upload('dist/secret.txt', 'the victim\'s bytes')).status).toBe(201);
    const attacker = await workerWithAttempt();
    const forged = await attacker.upload('dist/app.txt', 'forged', victim.attempt);
    expect(forged.status).toBe(409);
    const stolen = await attacker.as('GET', `/attempts/${attacker.attempt}/inputs/${sha256('the victim\'s bytes')}`);
    expect(stolen.status).toBe(404);
    const viaVictim = await attacker.as('GET', `/attempts/${victim.attempt}/inputs/${sha256('the victim\'s bytes')}`);
    expect(viaVictim.status).toBe(404);
  });
});

describe('artifact downloads', () => {
  it('lists and serves a finished task\'s files to a read token only, as a download, never as a page', async () => {
    const { runId, attempt, as, upload } = await workerWithAttempt();
    expect((await upload('dist/page.txt', '<script>alert(1)</script>')).status).toBe(201);
    expect((await as('POST', `/attempts/${attempt}/finish`, '{"outcome":"succeeded","exit_code":0}')).status).toBe(200);
    const file = `/api/v1/runs/${runId}/artifacts/file?task=build&path=dist%2Fpage.txt`;

    expect((await app.request(`/api/v1/runs/${runId}/artifacts`)).status).toBe(401);
    expect((await app.request(file)).status).toBe(401);
    const listed = await app.request(`/api/v1/runs/${runId}/artifacts?task=build`, { headers: { authorization: `Bearer ${read}` } });
    expect((await listed.json() as { artifacts: { path: string }[] }).artifacts.map((a) => a.path)).toEqual(['dist/page.txt']);

    const served = await app.request(file, { headers: { authorization: `Bearer ${read}` } });
    expect(served.status).toBe(200);
    expect(await served.text()).toBe('<script>alert(1)</script>');
    expect(served.headers.get('content-disposition')).toBe("attachment; filename*=UTF-8''page.txt");
    expect(served.headers.get('x-content-type-options')).toBe('nosniff');
    expect(served.headers.get('content-security-policy')).toBe('sandbox');

    // The web UI asks where the bytes are first: here, with the token.
    const link = await app.request(`${file}&link=1`, { headers: { authorization: `Bearer ${read}` } });
    expect(await link.json()).toEqual({ url: null });

    const missing = await app.request(`/api/v1/runs/${runId}/artifacts/file?task=build&path=dist%2Fnone.txt`, { headers: { authorization: `Bearer ${read}` } });
    expect(missing.status).toBe(404);
    expect((await missing.json() as { error: string }).error).toBe(`run ${runId} has no artifact dist/none.txt of task build`);
  });
});
