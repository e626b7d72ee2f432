import { createHash } from 'node:crypto';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.ts';
import { realTimer } from '../../src/engine/clock.ts';
import { defaultRetention } from '../../src/config/retention.ts';
import { GarbageCollector } from '../../src/coordinator/retention.ts';
import { expandTasks } from '../../src/pipeline/expand.ts';
import type { ArtifactOfferAnswer, HandedOut } from '../../src/protocol/worker.ts';
import type { Store } from '../../src/store/store.ts';
import { createToken } from '../../src/store/tokens.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { s3Credentials, startS3Server, type S3Server } from '../helpers/s3-server.ts';
import { tempDir } from '../helpers/temp.ts';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const base64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');

/** A coordinator on the files store or on s3rver's bucket, serving the API in-process. */
async function coordinatorOn(store: 'files' | 's3') {
  const dir = tempDir();
  const s3 = store === 's3' ? await startS3Server() : undefined;
  const blobs = s3 ? { store, bucket: s3.bucket, prefix: 'p/', region: 'us-east-1', endpoint: s3.endpoint, force_path_style: true } : { store };
  const made = await testCoordinator(dir.path, { settings: { blobs } });
  const app = createApp(made.coordinator, made.store.db);
  const read = (await createToken(made.store.db, 'reader', ['read'], Date.now())).secret;
  const close = async () => {
    await made.coordinator.close();
    await made.store.close();
    await s3?.close();
    dir.remove();
  };
  return { ...made, app, read, s3, close, stateDir: dir.path };
}

type On = Awaited<ReturnType<typeof coordinatorOn>>;

/** A worker holding the attempt of a step that keeps dist/*.txt, which a second step needs. */
async function workerWithAttempt(on: On) {
  const pipeline = pipelineOf([{ name: 'build', artifacts: ['dist/*.txt'] }, { name: 'publish', needs: ['build'] }], { sourceDir: on.sourceDir });
  const run = await on.coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: true });
  const registration = await on.coordinator.register(run.joinToken, { activity: 'builder' });
  if (registration.kind !== 'registered') throw new Error(`not registered: ${registration.kind}`);
  const as = (method: string, path: string, body?: string) => on.app.request(`/api/v1/worker${path}`, {
    method, headers: { authorization: `Bearer ${registration.credential}` }, ...(body !== undefined && { body }),
  });
  const claim = async () => (await (await as('POST', '/claim', '{"wait_ms":0}')).json() as HandedOut).attempt;
  const attempt = (await claim()).id;
  const offer = (path: string, text: string) => as('POST', `/attempts/${attempt}/artifacts/offer`, JSON.stringify({ path, sha256: sha256(text), size: Buffer.byteLength(text) }));
  return { runId: run.runId, sourceDigest: registration.settings!.source_digest!, attempt, as, claim, offer };
}

describe('the S3 blob store', () => {
  process.env = { ...process.env, ...s3Credentials };
  let on: On;
  beforeAll(async () => { on = await coordinatorOn('s3'); });
  afterAll(() => on.close());

  it('signs an upload of exactly the offered bytes, records it once the bucket has it, and keeps the same bytes without a second upload', async () => {
    const { offer, as, attempt, sourceDigest } = await workerWithAttempt(on);
    const text = 'the package\n';
    const first = await offer('dist/app.txt', text);
    expect(first.status).toBe(200);
    const { upload } = await first.json() as Extract<ArtifactOfferAnswer, { upload: unknown }>;
    if (!('put' in upload)) throw new Error(`expected a signed PUT, got ${JSON.stringify(upload)}`);
    const url = new URL(upload.put.url);
    expect(`${url.origin}${url.pathname}`).toBe(`${on.s3!.endpoint}/${on.s3!.bucket}/p/${sha256(text)}`);
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('content-length;host;x-amz-checksum-sha256');
    expect(Number(url.searchParams.get('X-Amz-Expires'))).toBeLessThanOrEqual(3600);
    expect(upload.put.headers).toEqual({ 'content-length': String(text.length), 'x-amz-checksum-sha256': base64(sha256(text)) });

    // (The bucket refuses a body of another length or sha256 than those signed; s3rver checks no V4 signature, so that is AWS's part.)
    // Only the run's source archive is there yet.
    expect(on.s3!.puts).toEqual([`p/${sourceDigest}`]);

    // Offered before the bytes are there, nothing is recorded; after the PUT, the same offer is kept.
    expect((await (await offer('dist/app.txt', text)).json() as object)).toHaveProperty('upload');
    expect((await fetch(upload.put.url, { method: 'PUT', headers: upload.put.headers, body: text })).status).toBe(200);
    const kept = await offer('dist/app.txt', text);
    expect(kept.status).toBe(201);
    expect(await kept.json()).toMatchObject({ kept: { task: 'build', path: 'dist/app.txt', size: text.length, sha256: sha256(text) } });
    expect((await offer('dist/copy.txt', text)).status).toBe(201);
    expect(on.s3!.puts).toEqual([`p/${sourceDigest}`, `p/${sha256(text)}`]);

    // An offer whose size is not that of the stored bytes of its sha256 is refused, saying so.
    const lying = await as('POST', `/attempts/${attempt}/artifacts/offer`, JSON.stringify({ path: 'dist/lie.txt', sha256: sha256(text), size: 3 }));
    expect(lying.status).toBe(409);
    expect((await lying.json() as { error: string }).error).toBe(`artifact dist/lie.txt: the blob store's ${sha256(text)} has ${text.length} bytes, not 3: the file changed while it was hashed, or the store's copy was changed`);
  });

  it('refuses offers the step does not declare, or from an attempt not in hand', async () => {
    const { offer, as } = await workerWithAttempt(on);
    const undeclared = await offer('dist/app.sh', 'x');
    expect(undeclared.status).toBe(400);
    expect((await undeclared.json() as { error: string }).error).toBe("artifact dist/app.sh matches none of step build's artifacts (dist/*.txt)");
    const other = await workerWithAttempt(on);
    const forged = await as('POST', `/attempts/${other.attempt}/artifacts/offer`, JSON.stringify({ path: 'dist/a.txt', sha256: sha256('x'), size: 1 }));
    expect(forged.status).toBe(409);
    const malformed = await as('POST', `/attempts/${other.attempt}/artifacts/offer`, JSON.stringify({ path: 'dist/a.txt', sha256: 'abc', size: 1 }));
    expect(malformed.status).toBe(400);
  });

  it('hands inputs and downloads out as signed URLs of the bucket, a download as an attachment', async () => {
    const text = '<script>alert(1)</script>';
    const { runId, attempt, as, claim, offer } = await workerWithAttempt(on);
    // Sent through the coordinator (as an agent that does not offer would): it stores the bytes in the bucket.
    expect((await as('POST', `/attempts/${attempt}/artifacts?path=dist%2Fpage.txt`, text)).status).toBe(201);
    expect((await offer('dist/page.txt', text)).status).toBe(201);
    expect((await as('POST', `/attempts/${attempt}/finish`, '{"outcome":"succeeded","exit_code":0}')).status).toBe(200);

    const publish = await claim();
    expect(publish.inputs).toEqual([{ task: 'build', path: 'dist/page.txt', sha256: sha256(text), size: text.length, url: expect.stringContaining(`${on.s3!.endpoint}/${on.s3!.bucket}/p/${sha256(text)}?`) }]);
    expect(await (await fetch(publish.inputs![0]!.url!)).text()).toBe(text);
    const viaCoordinator = await as('GET', `/attempts/${publish.id}/inputs/${sha256(text)}`);
    expect(viaCoordinator.status).toBe(302);
    expect(await (await fetch(viaCoordinator.headers.get('location')!)).text()).toBe(text);

    const file = await on.app.request(`/api/v1/runs/${runId}/artifacts/file?task=build&path=dist%2Fpage.txt`, { headers: { authorization: `Bearer ${on.read}` } });
    expect(file.status).toBe(302);
    expect(file.headers.get('x-slipway-sha256')).toBe(sha256(text));
    expect(file.headers.get('cache-control')).toBe('no-store');
    const fromBucket = await fetch(file.headers.get('location')!);
    expect(fromBucket.headers.get('content-disposition')).toBe("attachment; filename*=UTF-8''page.txt");
    expect(await fromBucket.text()).toBe(text);
    // What the web UI asks first: where to send the browser.
    const link = await on.app.request(`/api/v1/runs/${runId}/artifacts/file?task=build&path=dist%2Fpage.txt&link=1`, { headers: { authorization: `Bearer ${on.read}` } });
    expect(await (await fetch((await link.json() as { url: string }).url)).text()).toBe(text);
  });

  it('lets retention delete the blobs no artifact or run names, and nothing else of the bucket', async () => {
    const blobs = on.coordinator.artifacts.blobs;
    const { attempt, as, sourceDigest } = await workerWithAttempt(on);
    expect((await as('POST', `/attempts/${attempt}/artifacts?path=dist%2Fnamed.txt`, 'named\n')).status).toBe(201);
    const orphan = await blobs.put(new Response('no artifact names me\n').body!, 100, 'a test blob');
    const client = new S3Client({ region: 'us-east-1', endpoint: on.s3!.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    await client.send(new PutObjectCommand({ Bucket: on.s3!.bucket, Key: 'p/notes.txt', Body: 'not a blob' }));
    expect((await blobs.list()).map((blob) => blob.sha256)).toEqual(expect.arrayContaining([orphan.sha256, sha256('named\n')]));

    // Two hours on, past the grace an upload in progress gets.
    const later = { now: () => Date.now() + 2 * 3_600_000, after: realTimer };
    const report = await new GarbageCollector({ store: on.store, stateDir: on.stateDir, policy: defaultRetention, blobs, clock: later }).collect(false);
    expect(report.blobs).toEqual({ count: 1, bytes: orphan.size });
    expect(await blobs.size(orphan.sha256)).toBeUndefined();
    expect(await blobs.size(sha256('named\n'))).toBe(6);
    // The run's source archive is a blob its run names.
    expect(await blobs.size(sourceDigest)).toBeGreaterThan(0);
    expect((await client.send(new HeadObjectCommand({ Bucket: on.s3!.bucket, Key: 'p/notes.txt' }))).ContentLength).toBe('not a blob'.length);
    client.destroy();
  });
});

describe('the files store', () => {
  let on: On;
  beforeAll(async () => { on = await coordinatorOn('files'); });
  afterAll(() => on.close());

  it('asks for the bytes through the coordinator, then keeps the same bytes without them', async () => {
    const { offer, as, attempt } = await workerWithAttempt(on);
    const first = await offer('dist/app.txt', 'the package\n');
    expect(await first.json()).toEqual({ upload: { send: true } });
    expect((await as('POST', `/attempts/${attempt}/artifacts?path=dist%2Fapp.txt`, 'the package\n')).status).toBe(201);
    const again = await offer('dist/again.txt', 'the package\n');
    expect(again.status).toBe(201);
    expect(await again.json()).toMatchObject({ kept: { path: 'dist/again.txt', sha256: sha256('the package\n') } });
  });
});
