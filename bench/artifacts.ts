/**
 * Artifact throughput: one 100 MB artifact uploaded by the agent's own code (hash, offer,
 * then the bytes) and fetched as a task's input (download, size and sha256 checked), through
 * the files store (the bytes pass through the coordinator), through S3 signed URLs (an
 * s3rver bucket on loopback; the coordinator only signs), and through the database store on
 * PostgreSQL (a private cluster; the bytes pass through the coordinator into the database,
 * and the download is served from a coordinator that copies them out of it first, as one
 * that did not receive them does). Prints MB/s; `--json` prints one object. `--mb N`
 * changes the size.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { getSigned, keepArtifact } from '../src/agent/blob-transfer.ts';
import { WorkerClient } from '../src/agent/client.ts';
import { fetchInputs } from '../src/agent/task-files.ts';
import { createApp } from '../src/api/app.ts';
import { listen } from '../src/api/http-server.ts';
import type { BlobsSettings } from '../src/blobs/open-blob-store.ts';
import { openStore, type Store } from '../src/store/store.ts';
import { expandTasks } from '../src/pipeline/expand.ts';
import type { HandedOut } from '../src/protocol/worker.ts';
import { testCoordinator } from '../test/helpers/coordinator.ts';
import { pipelineOf } from '../test/helpers/pipelines.ts';
import { freshSchema, startPostgresCluster } from '../test/helpers/postgres.ts';
import { s3Credentials, startS3Server } from '../test/helpers/s3-server.ts';
import { tempDir } from '../test/helpers/temp.ts';

const json = process.argv.includes('--json');
const mbFlag = process.argv.indexOf('--mb');
const megabytes = mbFlag === -1 ? 100 : Number(process.argv[mbFlag + 1]);
const bytes = megabytes * 1024 * 1024;

/** A file of random bytes (incompressible, and no two runs of the bench dedup each other). */
async function randomFile(path: string): Promise<void> {
  const chunks = async function* () {
    for (let left = bytes; left > 0; left -= 1024 * 1024) yield randomBytes(Math.min(left, 1024 * 1024));
  };
  await pipeline(chunks, createWriteStream(path));
}

/**
 * MB/s of an upload and a download of one artifact on a coordinator with `blobs` (on `store`,
 * else a SQLite file), over loopback HTTP.
 */
async function measure(name: string, blobs: BlobsSettings, dir: string, file: string, store?: Store): Promise<{ upload_mb_s: number; download_mb_s: number }> {
  const { coordinator, store: opened, sourceDir } = await testCoordinator(join(dir, name), { settings: { blobs }, ...(store && { store }) });
  const server = await listen(createApp(coordinator, opened.db), '127.0.0.1', 0);
  try {
    const steps = pipelineOf([{ name: 'build', artifacts: ['dist'] }, { name: 'publish', needs: ['build'] }], { sourceDir });
    const run = await coordinator.createRun(steps, expandTasks(steps), {}, { fakeWorkers: false, noProvision: true });
    const client = new WorkerClient(server.url, run.joinToken, { windowMs: 5_000 });
    await client.register({ activity: 'builder' });
    const claim = async () => ((await client.claim(0)) as HandedOut).attempt;

    const build = await claim();
    let started = performance.now();
    await keepArtifact(client, build.id, 'dist/big.bin', file);
    const uploadSeconds = (performance.now() - started) / 1000;
    await client.finish(build.id, { outcome: 'succeeded', exit_code: 0, error: null, script_ms: null, claim_next: false, wait_ms: 0 });

    const publish = await claim();
    // Served as by a coordinator that did not receive the bytes: out of the database.
    if (blobs.store === 'database') rmSync(join(dir, name, 'blobs'), { recursive: true });
    started = performance.now();
    await fetchInputs(join(dir, `${name}-inputs`), {
      inputs: publish.inputs ?? [], upload: async () => undefined,
      download: (input) => (input.url ? getSigned(input.url) : client.input(publish.id, input.sha256)),
    });
    const downloadSeconds = (performance.now() - started) / 1000;
    return { upload_mb_s: Math.round(megabytes / uploadSeconds), download_mb_s: Math.round(megabytes / downloadSeconds) };
  } finally {
    await server.close();
    await coordinator.close();
    await opened.close();
  }
}

const dir = tempDir('slipway-bench-artifacts-');
Object.assign(process.env, s3Credentials);
const s3 = await startS3Server();
const cluster = await startPostgresCluster();
try {
  const file = join(dir.path, 'big.bin');
  await randomFile(file);
  const files = await measure('files', { store: 'files' }, dir.path, file);
  const bucket = await measure('s3', { store: 's3', bucket: s3.bucket, prefix: 'bench/', region: 'us-east-1', endpoint: s3.endpoint, force_path_style: true }, dir.path, file);
  const schema = await freshSchema(cluster.url('postgres'), 'bench');
  const database = await measure('database', { store: 'database' }, dir.path, file, await openStore(schema.url));
  if (json) process.stdout.write(`${JSON.stringify({ megabytes, files, s3: bucket, database })}\n`);
  else {
    process.stdout.write(`artifacts: one ${megabytes} MB file, agent code over loopback HTTP (upload includes hashing; download checks size and sha256)\n`);
    process.stdout.write(`  files store (through the coordinator)   upload ${files.upload_mb_s} MB/s   download ${files.download_mb_s} MB/s\n`);
    process.stdout.write(`  S3 signed URLs (s3rver, loopback)       upload ${bucket.upload_mb_s} MB/s   download ${bucket.download_mb_s} MB/s\n`);
    process.stdout.write(`  database store (PostgreSQL)             upload ${database.upload_mb_s} MB/s   download ${database.download_mb_s} MB/s (copied out of the database first)\n`);
  }
} finally {
  await cluster.stop();
  await s3.close();
  dir.remove();
}
