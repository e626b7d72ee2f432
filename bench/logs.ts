/**
 * What keeping logs costs: task output appended as a coordinator receives it (8 logs at
 * once, in chunks of 4 KiB, 16 MiB in all), then a 1 MiB range read back, to files (the
 * SQLite store's way) and to the store's tables (PostgreSQL's, so any coordinator serves
 * any log: a private cluster, or SLIPWAY_DATABASE_URL's database). Prints MB/s and the
 * statements per MiB written; `--json` prints one object.
 */
import { join } from 'node:path';
import pg from 'pg';
import { LogFiles } from '../src/coordinator/log-files.ts';
import { LogTable } from '../src/coordinator/log-table.ts';
import type { Logs } from '../src/coordinator/logs.ts';
import { openStore } from '../src/store/store.ts';
import { freshSchema, startPostgresCluster } from '../test/helpers/postgres.ts';
import { tempDir } from '../test/helpers/temp.ts';

const json = process.argv.includes('--json');
const logCount = 8;
const chunk = `${'output of a task, as a worker sends it\n'.repeat(105).slice(0, 4095)}\n`;
const totalBytes = 16 * 1024 * 1024;

/** Appends `totalBytes` across the logs, a turn of the event loop between rounds as requests come; then reads 1 MiB from the middle of one. */
async function measure(logs: Logs): Promise<{ write_mb_s: number; read_1mib_ms: number }> {
  const paths = Array.from({ length: logCount }, (_, i) => logs.attemptPath('r-0123abcd', `a-${String(i).padStart(12, '0')}`));
  const started = performance.now();
  for (let written = 0; written < totalBytes; written += chunk.length * logCount) {
    for (const path of paths) logs.append(path, chunk);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await logs.closeAll();
  const writeMs = performance.now() - started;
  const readStarted = performance.now();
  const read = await logs.read(paths[0]!, 512 * 1024, 1024 * 1024);
  const readMs = performance.now() - readStarted;
  if (read.length !== 1024 * 1024) throw new Error(`read ${read.length} bytes back, not 1 MiB`);
  return { write_mb_s: Math.round(totalBytes / 1024 / 1024 / (writeMs / 1000)), read_1mib_ms: Math.round(readMs * 10) / 10 };
}

const dir = tempDir('slipway-bench-logs-');
let cluster: Awaited<ReturnType<typeof startPostgresCluster>> | undefined;
try {
  const files = await measure(new LogFiles(join(dir.path, 'logs')));
  let url = process.env.SLIPWAY_DATABASE_URL;
  if (!url) {
    cluster = await startPostgresCluster(['shared_preload_libraries=pg_stat_statements', 'pg_stat_statements.track=all']);
    url = cluster.url('postgres');
  }
  const schema = await freshSchema(url, 'bench');
  const store = await openStore(schema.url, { writable: true });
  const stats = new pg.Client({ connectionString: url });
  await stats.connect();
  const counting = await stats.query('create extension if not exists pg_stat_statements').then(() => true, () => false);
  const statements = async () => (counting ? Number((await stats.query<{ n: string }>('select coalesce(sum(calls), 0) as n from pg_stat_statements')).rows[0]!.n) : NaN);
  const before = await statements();
  const table = await measure(new LogTable(store.db, join(dir.path, 'logs'), 64 * 1024 * 1024));
  const perMib = Math.round(((await statements()) - before) / (totalBytes / 1024 / 1024) * 10) / 10;
  await store.close();
  await stats.end();
  await schema.drop();
  const result = { files, store_tables: { ...table, statements_per_mib: Number.isNaN(perMib) ? null : perMib }, logs: logCount, chunk_bytes: chunk.length, total_mib: totalBytes / 1024 / 1024 };
  if (json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    process.stdout.write([
      `logs (${logCount} at once, ${chunk.length}-byte chunks, ${result.total_mib} MiB): files ${files.write_mb_s} MB/s, PostgreSQL tables ${table.write_mb_s} MB/s${result.store_tables.statements_per_mib === null ? '' : ` (${result.store_tables.statements_per_mib} statements per MiB)`}`,
      `reading 1 MiB back: files ${files.read_1mib_ms} ms, PostgreSQL tables ${table.read_1mib_ms} ms`,
      '',
    ].join('\n'));
  }
} finally {
  await cluster?.stop();
  dir.remove();
}
