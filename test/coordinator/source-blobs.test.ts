import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.ts';
import { FileBlobs } from '../../src/blobs/file-blobs.ts';
import type { CoordinatorSettings } from '../../src/coordinator/coordinator.ts';
import { expandTasks } from '../../src/pipeline/expand.ts';
import { createToken } from '../../src/store/tokens.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { s3Credentials, startS3Server, type S3Server } from '../helpers/s3-server.ts';
import { tarGz } from '../helpers/tar.ts';
import { tempDir } from '../helpers/temp.ts';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const PIPELINE = 'name: x\nactivities: {builder: {}}\nsteps: {build: {run: make}}\n';
const urls = { local: 'http://127.0.0.1:1', remote: 'http://127.0.0.1:1' };

/** The files under `dir` (recursively) whose bytes hash to `digest`. */
function copiesUnder(dir: string, digest: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name)).filter((path) => sha256(readFileSync(path)) === digest);
}

describe('run source archives in the blob store', () => {
  let s3: S3Server;
  const saved = { ...process.env };
  const dirs: ReturnType<typeof tempDir>[] = [];
  const closing: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    s3 = await startS3Server();
    Object.assign(process.env, s3Credentials);
  });
  afterAll(async () => {
    await s3.close();
    for (const name of Object.keys(s3Credentials)) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });
  afterEach(async () => {
    for (const close of closing.splice(0)) await close();
    for (const dir of dirs.splice(0)) dir.remove();
  });

  const inBucket: Partial<CoordinatorSettings> = {};
  beforeAll(() => {
    inBucket.blobs = { store: 's3', bucket: s3.bucket, prefix: 'src/', region: 'us-east-1', endpoint: s3.endpoint, force_path_style: true };
  });

  async function coordinatorIn(settings: Partial<CoordinatorSettings>, seed: (state: string) => void = () => undefined) {
    const dir = tempDir();
    dirs.push(dir);
    seed(dir.path);
    const made = await testCoordinator(dir.path, { storePath: ':memory:', settings });
    closing.push(async () => {
      await made.coordinator.close();
      await made.store.close();
    });
    made.coordinator.start(urls);
    return { ...made, state: dir.path, app: createApp(made.coordinator, made.store.db) };
  }

  it('with [blobs] store = "s3", packs a run\'s source into the bucket under its sha256, and sends its worker there', async () => {
    const { coordinator, app, state, sourceDir } = await coordinatorIn(inBucket);
    const pipeline = pipelineOf([{ name: 'build' }], { sourceDir });
    const { joinToken } = await coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: true });
    const joined = await coordinator.register(joinToken, { activity: 'builder' });
    if (joined.kind !== 'registered') throw new Error('the worker did not register');
    const digest = joined.settings!.source_digest!;
    expect(s3.puts).toContain(`src/${digest}`);

    const answer = await app.request('/api/v1/worker/source', { headers: { authorization: `Bearer ${joined.credential}` }, redirect: 'manual' });
    expect(answer.status).toBe(302);
    expect(answer.headers.get('x-slipway-digest')).toBe(digest);
    const location = answer.headers.get('location')!;
    expect(location.startsWith(`${s3.endpoint}/${s3.bucket}/src/${digest}?`)).toBe(true);
    // The worker follows without its credential: the signed URL is enough, and the bytes are those the digest names.
    const bytes = Buffer.from(await (await fetch(location)).arrayBuffer());
    expect(sha256(bytes)).toBe(digest);
    // The coordinator kept no copy of its own.
    expect(copiesUnder(state, digest)).toEqual([]);
  });

  const oldArchive = tarGz([{ type: 'file', name: 'slipway.yml', data: PIPELINE }]);
  const oldDigest = sha256(oldArchive);
  const hundredDaysAgo = new Date(Date.now() - 100 * 86_400_000);
  /** A state directory as the previous version left it: an archive under sources/. */
  const previousVersion = (state: string) => {
    mkdirSync(join(state, 'sources'), { recursive: true });
    writeFileSync(join(state, 'sources', `${oldDigest}.tar.gz`), oldArchive);
    utimesSync(join(state, 'sources', `${oldDigest}.tar.gz`), hundredDaysAgo, hundredDaysAgo);
  };

  async function submit(app: ReturnType<typeof createApp>, db: Parameters<typeof createToken>[0]): Promise<Response> {
    const token = (await createToken(db, 'submitter', ['submit'], Date.now())).secret;
    return app.request('/api/v1/runs', {
      method: 'POST', body: JSON.stringify({ source: oldDigest, file: 'slipway.yml', fake_workers: true }),
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    });
  }

  it('moves the archives a previous version kept under sources/ into the files blob store when it starts', async () => {
    const { coordinator, app, store, state } = await coordinatorIn({}, previousVersion);
    await coordinator.sources();
    const blob = new FileBlobs(join(state, 'blobs')).path(oldDigest);
    expect(readFileSync(blob)).toEqual(oldArchive);
    // Moved, not copied: as old as it was, for retention's age rule.
    expect(statSync(blob).mtimeMs).toBe(hundredDaysAgo.getTime());
    expect(existsSync(join(state, 'sources', `${oldDigest}.tar.gz`))).toBe(false);
    expect(readdirSync(join(state, 'sources'))).toEqual([]);
    // A run can still be made from it.
    expect((await submit(app, store.db)).status).toBe(201);
  });

  it('puts them into the bucket with [blobs] store = "s3"', async () => {
    const { coordinator, app, store, state } = await coordinatorIn(inBucket, previousVersion);
    await coordinator.sources();
    expect(s3.puts).toContain(`src/${oldDigest}`);
    expect(existsSync(join(state, 'sources', `${oldDigest}.tar.gz`))).toBe(false);
    expect(copiesUnder(state, oldDigest)).toEqual([]);
    expect((await submit(app, store.db)).status).toBe(201);
  });
});
