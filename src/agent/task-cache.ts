import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { glob, lstat, mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { checkArchive, type ArchiveLimits } from '../archive/check.ts';
import { runTar, unpack } from '../archive/tar.ts';
import { parseCacheKey } from '../pipeline/cache-key.ts';
import type { CacheFound, CacheLookup, CacheOrder } from '../protocol/worker.ts';
import { byteSize } from '../util/byte-size.ts';
import { writeHashed } from '../util/hashed-write.ts';
import { hashFile } from './blob-transfer.ts';

/** What the agent asks of the coordinator for a step's cache. */
export interface CacheClient {
  lookup(ask: CacheLookup): Promise<CacheFound>;
  download(sha256: string): Promise<Response>;
  save(key: string, file: string): Promise<void>;
}

/** A cache that could not be restored or saved: said in the task's log; the task goes on. */
export class CacheTrouble extends Error {}

/**
 * A key template with its `{{ hashFiles(…) }}` computed in `tree`: the sha256 of each
 * regular file the globs match, in path order, with its path, so renaming a file changes
 * the key. No file matched hashes to the sha256 of nothing, which is still a key.
 */
export async function computeKey(tree: string, template: string): Promise<string> {
  const parts = parseCacheKey(template);
  if ('problem' in parts) throw new CacheTrouble(`cache key ${template}: ${parts.problem}`);
  let key = '';
  for (const part of parts) {
    if ('text' in part) key += part.text;
    else if ('axis' in part) key += `{{ ${part.axis} }}`;
    else key += await hashFiles(tree, part.hashFiles);
  }
  return key;
}

async function hashFiles(tree: string, globs: string[]): Promise<string> {
  const files = new Set<string>();
  for (const pattern of globs) {
    for await (const path of glob(pattern, { cwd: tree })) if ((await lstat(join(tree, path))).isFile()) files.add(path);
  }
  const all = createHash('sha256');
  for (const path of [...files].sort()) {
    all.update(`${path}\0${(await hashFile(join(tree, path))).sha256}\n`);
  }
  return all.digest('hex');
}

/**
 * Restores the entry the coordinator finds for the key (or a restore key) into the tree,
 * after checking its bytes and its members as any archive from elsewhere. Says what it did.
 */
export async function restoreCache(
  tree: string, order: CacheOrder, client: CacheClient, limits: ArchiveLimits, say: (line: string) => void,
): Promise<{ key: string; exact: boolean }> {
  const key = await computeKey(tree, order.key);
  const restoreKeys = await Promise.all(order.restore_keys.map((template) => computeKey(tree, template)));
  const { entry } = await client.lookup({ key, restore_keys: restoreKeys });
  if (!entry) {
    say(`cache: no entry for ${key}`);
    return { key, exact: false };
  }
  const scratch = await mkdtemp(join(tree, '..', '.cache-'));
  try {
    const archive = join(scratch, 'entry.tar.gz');
    const response = await client.download(entry.sha256);
    if ((await writeHashed(response.body, archive)).sha256 !== entry.sha256) throw new CacheTrouble(`cache entry ${entry.key} arrived damaged: its sha256 is not ${entry.sha256.slice(0, 12)}`);
    await checkArchive(archive, limits);
    await unpack(archive, tree);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  say(`cache: restored ${entry.key}${entry.exact ? '' : ` for ${key}`} (${byteSize(entry.size)})`);
  return { key, exact: entry.exact };
}

/** Saves the paths that exist as the key's entry; says so, or why nothing was saved. */
export async function saveCache(tree: string, order: CacheOrder, key: string, client: CacheClient, say: (line: string) => void): Promise<void> {
  const paths = order.paths.filter((path) => existsSync(join(tree, path)));
  if (paths.length === 0) {
    say(`cache: nothing saved for ${key}: none of ${order.paths.join(', ')} exists`);
    return;
  }
  const scratch = await mkdtemp(join(tree, '..', '.cache-'));
  try {
    const archive = join(scratch, 'entry.tar.gz');
    // Names are relative to the tree and given after `--`: none is read as an option.
    await runTar(['--create', '--gzip', `--file=${archive}`, `--directory=${tree}`, '--', ...paths]);
    await client.save(key, archive);
    say(`cache: saved ${key} (${byteSize((await stat(archive)).size)})`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
