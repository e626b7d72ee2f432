import { glob, lstat, mkdir, realpath, rm } from 'node:fs/promises';
import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import type { ArtifactInput, CacheOrder } from '../protocol/worker.ts';
import type { ArchiveLimits } from '../archive/check.ts';
import { restoreCache, saveCache, type CacheClient } from './task-cache.ts';
import { writeHashed } from '../util/hashed-write.ts';
import { taskDirName } from '../util/task-dir-name.ts';
import { removeTree } from './source-cache.ts';

/** What an attempt gets and keeps besides its tree: its inputs before the script, its artifacts after. */
export interface TaskFiles {
  inputs: ArtifactInput[];
  download: (input: ArtifactInput) => Promise<Response>;
  /** Globs of the files kept after a success; undefined for a check, or a step that keeps none. */
  artifacts?: string[];
  upload: (path: string, file: string) => Promise<void>;
  /** The step's cache, and how to reach the coordinator's entries; undefined for a step without one. */
  cache?: { order: CacheOrder; client: CacheClient };
}

/** A task's files could not be fetched or kept: the attempt fails with this message. */
export class TaskFilesError extends Error {}

/** What the files before the script left for after it: the cache key, and whether its entry was restored as is. */
export interface Prepared {
  cache?: { key: string; exact: boolean };
}

/**
 * Before the script: the inputs to `inputsDir`, and the cache restored into the tree. A
 * cache that cannot be restored is said in the log and the task goes on without it.
 */
export async function prepareFiles(tree: string, inputsDir: string, files: TaskFiles, limits: ArchiveLimits, say: (line: string) => void): Promise<Prepared> {
  await fetchInputs(inputsDir, files);
  if (!files.cache) return {};
  try {
    return { cache: await restoreCache(tree, files.cache.order, files.cache.client, limits, say) };
  } catch (error) {
    say(`cache: not restored: ${(error as Error).message}`);
    return {};
  }
}

/**
 * After a success: each artifact uploaded (one that cannot be is the attempt's failure),
 * and the cache saved when its key missed and the attempt may save (not a try's).
 */
export async function keepFiles(tree: string, files: TaskFiles, prepared: Prepared, say: (line: string) => void): Promise<void> {
  for (const path of files.artifacts ? await matchArtifacts(tree, files.artifacts) : []) {
    await files.upload(path, join(tree, path)).catch((error: Error) => {
      throw new TaskFilesError(`artifact ${path} could not be kept: ${error.message}`);
    });
  }
  if (!files.cache?.order.save || !prepared.cache || prepared.cache.exact) return;
  await saveCache(tree, files.cache.order, prepared.cache.key, files.cache.client, say)
    .catch((error: Error) => say(`cache: not saved: ${error.message}`));
}

/**
 * The inputs directory made empty for the next task, as it was before the first: what the
 * task fetched or left there goes, the directory itself stays (a new one would cost an
 * inode: see refreshTree). One the task replaced (by a link, say) goes whole.
 */
export function emptyInputs(dir: string): void {
  let info;
  try {
    info = lstatSync(dir);
  } catch {
    return;
  }
  if (!info.isDirectory()) return removeTree(dir);
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir)) removeTree(join(dir, entry));
}

/**
 * Fetches each input to `dir/<task>/<path>`, checking its size and sha256: bytes that are
 * not what the coordinator recorded are refused, not handed to the script.
 */
export async function fetchInputs(dir: string, files: TaskFiles): Promise<void> {
  // In the agent's own thread: most tasks need no inputs, and an empty directory is one call.
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const input of files.inputs) {
    const target = join(dir, taskDirName(input.task), input.path);
    // The coordinator checked the path when it was kept; checked again, since it is written here.
    if (input.path.split('/').some((part) => part === '..' || part === '') || !target.startsWith(dir + sep)) {
      throw new TaskFilesError(`input ${input.path} of ${input.task} is not a path inside the inputs directory`);
    }
    await mkdir(dirname(target), { recursive: true, mode: 0o755 });
    let response: Response;
    try {
      response = await files.download(input);
    } catch (error) {
      throw new TaskFilesError(`cannot fetch input ${input.path} of ${input.task}: ${(error as Error).message}`);
    }
    const { sha256, size } = await writeHashed(response.body, target, 0o644);
    if (size !== input.size || sha256 !== input.sha256) {
      await rm(target, { force: true });
      throw new TaskFilesError(`input ${input.path} of ${input.task} arrived damaged (${size} bytes, sha256 ${sha256.slice(0, 12)}; expected ${input.size} bytes, ${input.sha256.slice(0, 12)})`);
    }
  }
}

/**
 * The files the patterns match in `tree`: regular files, and those under a matched
 * directory. Every pattern must match one; a symbolic link, or a path that leads out of the
 * tree, is refused, so only what the task made inside its tree is kept.
 */
export async function matchArtifacts(tree: string, patterns: string[]): Promise<string[]> {
  const root = await realpath(tree);
  const found = new Set<string>();
  for (const pattern of patterns) {
    let matched = 0;
    for await (const path of glob(pattern, { cwd: tree })) {
      for (const file of await regularFiles(tree, root, path)) {
        found.add(file);
        matched++;
      }
    }
    if (matched === 0) throw new TaskFilesError(`artifact ${pattern}: no file matches it in the task's tree`);
  }
  return [...found].sort();
}

async function regularFiles(tree: string, root: string, path: string): Promise<string[]> {
  const full = join(tree, path);
  const info = await lstat(full);
  if (info.isSymbolicLink()) throw new TaskFilesError(`artifact ${path} is a symbolic link: only regular files are kept`);
  const real = await realpath(full);
  if (real !== root && !real.startsWith(root + sep)) throw new TaskFilesError(`artifact ${path} is outside the task's tree`);
  if (info.isFile()) return [path.split(sep).join('/')];
  if (!info.isDirectory()) return [];
  const files: string[] = [];
  for await (const inner of glob('**', { cwd: full })) {
    const entry = await lstat(join(full, inner));
    if (entry.isSymbolicLink()) throw new TaskFilesError(`artifact ${join(path, inner)} is a symbolic link: only regular files are kept`);
    if (entry.isFile()) files.push(join(path, inner).split(sep).join('/'));
  }
  return files;
}
