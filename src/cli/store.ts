import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config/load.ts';
import { copyStore, historyIn, type CopiedTable } from '../store/copy-store.ts';
import { isPostgresUrl, openSqliteStore, openStore, shownStoreLocation } from '../store/store.ts';
import { table } from './format.ts';
import { UsageError } from './usage-error.ts';

interface CopyOptions { from: string; to: string; json?: boolean }

export function registerStore(program: Command): void {
  const store = program.command('store').description('the store itself: move it from SQLite to PostgreSQL');
  store.command('copy')
    .description('copy a SQLite store (runs, tasks, events, workers, tokens, secrets, artifacts, caches; logs and blobs into PostgreSQL) into an empty store, all or nothing')
    .requiredOption('--from <path>', 'the SQLite file (slipway.db in the state directory)')
    .requiredOption('--to <url>', 'the target: a postgres:// URL (or another SQLite file); it must hold no runs and no tokens')
    .option('--json', 'print what was copied as JSON: {from, to, rows: {TABLE: COUNT, logs: FILES, blobs: BLOBS}}')
    .addHelpText('after', `
Stop every coordinator on the SQLite store first: what they write during the copy is not
copied. Into PostgreSQL, the logs beside the SQLite file (logs/) go too, and so do the
blobs beside it (blobs/: artifacts and source archives), unless [blobs] store says "files"
or "s3": there every coordinator serves every log and blob from the store. Then set
[store] url (or SLIPWAY_DATABASE_URL) to the target for every coordinator.

Example:
  slipway store copy --from ~/.local/state/slipway/slipway.db --to postgres://slipway@db/slipway`)
    .action(async (options: CopyOptions) => {
      if (isPostgresUrl(options.from)) throw new UsageError('--from takes a SQLite file; copying between PostgreSQL databases is pg_dump\'s work');
      if (!existsSync(options.from)) throw new UsageError(`--from ${options.from}: no such file`);
      if (!isPostgresUrl(options.to) && existsSync(options.to)) throw new UsageError(`--to ${options.to} exists: copy into a new file or an empty PostgreSQL database`);
      const source = await openSqliteStore(options.from);
      try {
        const target = await openStore(options.to, { writable: true });
        try {
          const held = await historyIn(target.db);
          if (held.runs > 0 || held.tokens > 0) {
            throw new UsageError(`${shownStoreLocation(options.to)} already holds ${held.runs} runs and ${held.tokens} tokens: copy into an empty store, so no two histories mix`);
          }
          const progress = (name: CopiedTable, rows: number) => process.stderr.write(`copied ${name}: ${rows} rows\n`);
          const beside = dirname(options.from);
          const blobsInDatabase = (loadConfig().blobs.store ?? 'database') === 'database';
          const files = { logs: join(beside, 'logs'), ...(blobsInDatabase && { blobs: join(beside, 'blobs') }) };
          const rows = await copyStore(source, target, files, options.json ? () => undefined : progress);
          const shown = { from: options.from, to: shownStoreLocation(options.to), rows };
          process.stdout.write(options.json
            ? `${JSON.stringify(shown, null, 2)}\n`
            : `${table(Object.entries(rows).map(([name, count]) => [name, String(count)]), ['TABLE', 'ROWS'])}\ncopied ${options.from} into ${shown.to}\n`);
        } finally {
          await target.close();
        }
      } finally {
        await source.close();
      }
    });
}
