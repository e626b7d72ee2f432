import { createHash } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import { Sandbox } from '../helpers/cli.ts';
import { freshSchema, startPostgresCluster, type PostgresCluster } from '../helpers/postgres.ts';

describe('slipway store copy', () => {
  const box = new Sandbox();
  let cluster: PostgresCluster;
  let sqlite: string;
  let runId: string;

  beforeAll(async () => {
    cluster = await startPostgresCluster();
    const file = box.write({
      'slipway.yml': `
name: moving
matrix:
  n: ["1", "2"]
activities:
  builder: { max_workers: 1 }
steps:
  build:
    over: [n]
    run: echo "built $N"
  ship:
    needs: [build]
    run: echo shipped
`,
    });
    const ran = await box.run(['run', file, '--json']);
    expect(ran.code, ran.stderr).toBe(0);
    runId = (JSON.parse(ran.stdout) as RunReport).run.id;
    expect((await box.run(['tokens', 'create', 'ci', '--scope', 'submit'])).code).toBe(0);
    sqlite = join(box.state, 'slipway', 'slipway.db');
  });

  afterAll(async () => {
    await cluster.stop();
    box.cleanup();
  });

  it('moves runs, events, logs, blobs and tokens into PostgreSQL, where the next run goes on from them', async () => {
    const target = await freshSchema(cluster.url('postgres'));
    const copied = await box.run(['store', 'copy', '--from', sqlite, '--to', target.url, '--json']);
    expect(copied.code, copied.stderr).toBe(0);
    const { rows, to } = JSON.parse(copied.stdout) as { rows: Record<string, number>; to: string };
    expect(rows).toMatchObject({ runs: 1, tasks: 3, task_needs: 2, tokens: 1, store_identity: 1 });
    expect(rows.events).toBeGreaterThan(5);
    // Three attempts' logs and the workers' own: every log file of the state directory (agents' aside).
    const logFiles = readdirSync(join(box.state, 'slipway', 'logs'), { recursive: true }).filter((name) => String(name).endsWith('.log') && !String(name).endsWith('.agent.log'));
    expect(rows.logs).toBe(logFiles.length);
    expect(rows.logs).toBeGreaterThan(3);
    expect(to).toBe(target.url);
    // The run's source archive, a blob of the state directory, is in the new store's tables, whole.
    const blobFiles = readdirSync(join(box.state, 'slipway', 'blobs', 'sha256'), { recursive: true }).filter((name) => /^[0-9a-f]{2}\/[0-9a-f]{62}$/.test(String(name)));
    expect(rows.blobs).toBe(blobFiles.length);
    expect(rows.blobs).toBeGreaterThan(0);
    const database = new pg.Client({ connectionString: target.url });
    await database.connect();
    try {
      const digest = (await database.query<{ source_digest: string }>('select source_digest from runs where id = $1', [runId])).rows[0]!.source_digest;
      const chunks = await database.query<{ data: Buffer }>('select data from blob_chunks join blobs using (sha256) where sha256 = $1 and complete = 1 order by at', [digest]);
      expect(createHash('sha256').update(Buffer.concat(chunks.rows.map((row) => row.data))).digest('hex')).toBe(digest);
    } finally {
      await database.end();
    }

    const onPostgres = { SLIPWAY_DATABASE_URL: target.url };
    const before = await box.run(['show', runId, '--json']);
    const after = await box.run(['show', runId, '--json'], onPostgres);
    expect(after.code, after.stderr).toBe(0);
    expect(JSON.parse(after.stdout)).toEqual(JSON.parse(before.stdout));
    // The logs are in the new store: a coordinator elsewhere, without this state directory, serves them.
    const logBefore = await box.run(['logs', runId, 'build[n=2]']);
    rmSync(join(box.state, 'slipway', 'logs'), { recursive: true });
    const log = await box.run(['logs', runId, 'build[n=2]'], onPostgres);
    expect(log.stdout).toContain('built 2');
    expect(log.stdout).toBe(logBefore.stdout);
    const tokens = await box.run(['tokens', 'list', '--json'], onPostgres);
    expect(JSON.parse(tokens.stdout)).toMatchObject([{ name: 'ci', scopes: ['submit'] }]);

    // A run on the new store numbers its events after the copied ones (a sequence left at 1 would collide).
    const next = await box.run(['run', join(box.source, 'slipway.yml'), '--json'], onPostgres);
    expect(next.code, next.stderr).toBe(0);
    const nextId = (JSON.parse(next.stdout) as RunReport).run.id;
    const client = new pg.Client({ connectionString: target.url });
    await client.connect();
    try {
      const seqs = await client.query<{ run_id: string; low: number; high: number }>('select run_id, min(seq)::int as low, max(seq)::int as high from events group by run_id');
      const of = (id: string) => seqs.rows.find((row) => row.run_id === id)!;
      expect(of(nextId).low).toBeGreaterThan(of(runId).high);
    } finally {
      await client.end();
      await target.drop();
    }
  });

  it('refuses a target that holds a history already, and says what is wrong with its arguments', async () => {
    const target = await freshSchema(cluster.url('postgres'));
    expect((await box.run(['store', 'copy', '--from', sqlite, '--to', target.url])).code).toBe(0);
    const again = await box.run(['store', 'copy', '--from', sqlite, '--to', target.url]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already holds 1 runs and 1 tokens: copy into an empty store/);
    const missing = await box.run(['store', 'copy', '--from', join(box.dir.path, 'nope.db'), '--to', target.url]);
    expect(missing.stderr).toContain('nope.db: no such file');
    const fromPostgres = await box.run(['store', 'copy', '--from', target.url, '--to', join(box.dir.path, 'back.db')]);
    expect(fromPostgres.stderr).toContain('--from takes a SQLite file');
    await target.drop();
  });
});
