import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import type { Artifact } from '../../src/store/artifacts.ts';
import { Sandbox } from '../helpers/cli.ts';
import { processesUnder } from '../helpers/processes.ts';
import { s3Credentials, startS3Server, type S3Server } from '../helpers/s3-server.ts';

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

/** The files under `dir` (recursively) that hold exactly these bytes. */
function copiesUnder(dir: string, bytes: Buffer): string[] {
  const digest = sha256(bytes);
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .filter((path) => statSync(path).size === bytes.length && sha256(readFileSync(path)) === digest);
}

describe('artifacts in an S3 bucket', () => {
  const box = new Sandbox();
  let s3: S3Server;
  const numbers = Buffer.from(`${Array.from({ length: 20_000 }, (_, i) => i + 1).join('\n')}\n`);

  beforeAll(async () => {
    s3 = await startS3Server();
    mkdirSync(join(box.config, 'slipway'), { recursive: true });
    writeFileSync(join(box.config, 'slipway', 'config.toml'), s3.configToml('slipway/'));
  });
  afterAll(async () => {
    box.cleanup();
    await s3?.close();
  });

  let out: string;
  let file: string;
  let key: string;
  let runId: string;
  let sourceKey: string;

  /** A client of the test's bucket, as someone with its credentials (not Slipway) would use it. */
  const bucket = () => new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });

  beforeAll(() => {
    out = box.sharedDir('out');
    key = `slipway/${sha256(numbers)}`;
    file = box.write({
      'slipway.yml': `
name: s3-artifacts
activities:
  builder: { max_workers: 1 }
steps:
  build:
    run: mkdir -p dist && seq 1 20000 > dist/numbers.txt
    artifacts: [dist/numbers.txt]
  publish:
    needs: [build]
    retry: { attempts: 1 }
    env: { OUT: ${out} }
    run: cp "$SLIPWAY_INPUTS/build/dist/numbers.txt" "$OUT/published"
`,
    });
  });

  it('go straight to the bucket, never through the state directory, and back to the task that needs them and to a download', async () => {
    const first = await box.run(['run', file, '--json'], s3Credentials);
    expect(first.code, first.stderr).toBe(0);
    runId = (JSON.parse(first.stdout) as RunReport).run.id;

    // The bucket got the bytes under their sha256, the coordinator's state directory never did, and publish got them.
    // The run's source archive went there first, under its own sha256; its worker fetched it from there (no copy is left here).
    expect(s3.puts).toHaveLength(2);
    sourceKey = s3.puts[0]!;
    expect(s3.puts).toEqual([sourceKey, key]);
    const client = bucket();
    const archive = Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: sourceKey }))).Body!.transformToByteArray());
    client.destroy();
    expect(sourceKey).toBe(`slipway/${sha256(archive)}`);
    expect(copiesUnder(box.state, archive)).toEqual([]);
    expect(copiesUnder(box.state, numbers)).toEqual([]);
    expect(readFileSync(join(out, 'published'))).toEqual(numbers);

    const listed = JSON.parse((await box.run(['artifacts', runId, '--json'], s3Credentials)).stdout) as Artifact[];
    expect(listed.map((a) => `${a.task} ${a.path} ${a.size} ${a.sha256}`)).toEqual([`build dist/numbers.txt ${numbers.length} ${sha256(numbers)}`]);
    const downloads = join(box.dir.path, 'downloads');
    const downloaded = await box.run(['artifacts', runId, '--download', downloads], s3Credentials);
    expect(downloaded.code, downloaded.stderr).toBe(0);
    expect(readFileSync(join(downloads, 'build', 'dist', 'numbers.txt'))).toEqual(numbers);
  });

  it('are not uploaded again when the bucket has the same bytes', async () => {
    const second = await box.run(['run', file, '--json'], s3Credentials);
    expect(second.code, second.stderr).toBe(0);
    // The same tree packs to the same archive: that is not sent again either.
    expect(s3.puts).toEqual([sourceKey, key]);
    expect(readFileSync(join(out, 'published'))).toEqual(numbers);
  });

  it('are refused, saying which, when their bytes were changed in the bucket', async () => {
    // Someone changes the object behind Slipway's back (same size, other bytes): the task that needs it refuses it.
    const tampered = Buffer.from(numbers);
    tampered[0] = '9'.charCodeAt(0);
    const client = bucket();
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: tampered }));
    client.destroy();
    const third = await box.run(['run', file, '--json'], s3Credentials);
    expect(third.code).toBe(1);
    const publish = (JSON.parse(third.stdout) as RunReport).tasks.find((t) => t.id === 'publish')!;
    expect(publish.attempts.map((a) => a.error)).toEqual([
      `input dist/numbers.txt of build arrived damaged (${numbers.length} bytes, sha256 ${sha256(tampered).slice(0, 12)}; expected ${numbers.length} bytes, ${sha256(numbers).slice(0, 12)})`,
    ]);
    const refused = await box.run(['artifacts', runId, '--download', join(box.dir.path, 'again')], s3Credentials);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`dist/numbers.txt of build arrived damaged: sha256 ${sha256(tampered)}, expected ${sha256(numbers)}`);
    expect(processesUnder(box.dir.path)).toEqual([]);
  });
});
