import { join } from 'node:path';
import type { Command } from 'commander';
import { openBlobStore } from '../blobs/open-blob-store.ts';
import { loadConfig } from '../config/load.ts';
import { stateDir } from '../config/paths.ts';
import { retentionPolicy } from '../config/retention.ts';
import { moveOldArchives } from '../coordinator/old-source-archives.ts';
import { GarbageCollector, type GcReport } from '../coordinator/retention.ts';
import { systemClock } from '../engine/clock.ts';
import { configuredImageExpiry } from '../providers/configured.ts';
import { serverOf } from './api-client.ts';
import { table } from './format.ts';
import { openLocalStore } from './local-state.ts';
import { byteSize } from '../util/byte-size.ts';

interface GcOptions { dryRun?: boolean; json?: boolean; server?: string; token?: string; db?: string }

const kinds = ['runs', 'artifacts', 'blobs', 'source_archives', 'images', 'caches'] as const;

export function registerGc(program: Command): void {
  program.command('gc')
    .description('delete what [retention] says has expired: finished runs with their logs, artifacts and their files, source archives, EC2 prepared images')
    .option('--dry-run', 'only say what would be deleted')
    .option('--json', 'print the report as JSON: {dry_run, runs, artifacts, blobs, source_archives, images, caches}, each {count, bytes} or null')
    .option('--server <url>', "have this server collect its own (the admin scope; default: the local store and state directory)")
    .option('--token <token>', 'the server token (default: $SLIPWAY_TOKEN, or the admin token of a server on this machine)')
    .option('--db <path>', "the local store (default: the state directory's)")
    .addHelpText('after', `
Running runs are never touched, nor a run a live worker belongs to. A server does the same
once when it starts and then hourly. Ages come from the config's [retention] table.

Examples:
  slipway gc --dry-run
  slipway gc --server http://build:7070 --json | jq .runs`)
    .action(async (options: GcOptions) => {
      const report = await collect(options);
      process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : summary(report));
    });
}

async function collect(options: GcOptions): Promise<GcReport> {
  const server = options.server === undefined ? undefined : serverOf(options);
  if (server) return server.json<GcReport>('POST', '/api/v1/gc', { dry_run: options.dryRun ?? false });
  const config = loadConfig();
  const store = await openLocalStore(options.db);
  try {
    const state = stateDir();
    const blobs = openBlobStore(config.blobs, state, store.db);
    // An older version's archives are blobs to collect too, as a coordinator starting here would make them.
    await moveOldArchives({ blobs, dir: join(state, 'sources') });
    const collector = new GarbageCollector({
      store, stateDir: state, policy: retentionPolicy(config.retention), blobs,
      clock: systemClock, images: await configuredImageExpiry(config),
    });
    return await collector.collect(options.dryRun ?? false);
  } finally {
    await store.close();
  }
}

function summary(report: GcReport): string {
  const rows = kinds.map((kind) => {
    const tally = report[kind];
    return tally === null ? [kind, '-', 'not collected'] : [kind, String(tally.count), byteSize(tally.bytes)];
  });
  return `${table(rows, ['KIND', report.dry_run ? 'WOULD DELETE' : 'DELETED', 'BYTES'])}\n${report.dry_run ? 'dry run: nothing was deleted\n' : ''}`;
}
