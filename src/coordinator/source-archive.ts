import { createWriteStream, existsSync, mkdirSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join, resolve as absolute } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { BlobStore } from '../blobs/blob-store.ts';
import { checkArchive, type ArchiveLimits } from '../archive/check.ts';
import { runTar, unpack } from '../archive/tar.ts';
import { idPatterns, newId } from '../util/ids.ts';
import { saveBody } from '../util/save-body.ts';

/** What BodyTooLarge names for an uploaded source archive. */
export const sourceArchive = 'the source archive';

/**
 * Where a coordinator keeps run sources: the archives are blobs of `blobs`, named by their
 * sha256 (a run's source_digest); `dir` (the state directory's sources/) holds only what
 * is local to this machine: archives being packed or received (incoming/) and the
 * coordinator's own unpacked trees (trees/).
 */
export interface SourceStore {
  blobs: BlobStore;
  dir: string;
}

/**
 * A run's source tree as one archive file, so workers fetch and cache it once per revision
 * and remote machines need no access to the repository. `files` (paths relative to
 * `sourceDir`) packs exactly those, as a working copy's VCS chose them; without, the whole
 * directory but .git and node_modules.
 */
export async function packArchive(sourceDir: string, archive: string, files?: string[]): Promise<void> {
  const list = `${archive}.files`;
  try {
    // A list read verbatim: a file named like an option stays a file name.
    if (files) writeFileSync(list, files.map((file) => `${file}\0`).join(''), { mode: 0o600 });
    const members = files ? ['--no-recursion', '--null', '--verbatim-files-from', `--files-from=${absolute(list)}`] : ['--exclude=.git', '--exclude=node_modules', '.'];
    await runTar(['--create', '--gzip', `--file=${absolute(archive)}`, `--directory=${absolute(sourceDir)}`, ...members]);
  } catch (error) {
    rmSync(archive, { force: true });
    throw new Error(`cannot pack the source tree ${sourceDir}: ${(error as Error).message}`);
  } finally {
    rmSync(list, { force: true });
  }
}

/** Packs the tree (see packArchive) into the blob store; its digest, the archive's sha256. */
export async function packSource(sourceDir: string, sources: SourceStore, files?: string[]): Promise<string> {
  const partial = incoming(sources);
  try {
    await packArchive(sourceDir, partial, files);
    return (await sources.blobs.adopt(partial, sourceArchive)).sha256;
  } finally {
    rmSync(partial, { force: true });
  }
}

/**
 * Keeps an uploaded archive as a blob; refuses one past `maxBytes` (BodyTooLarge), and one the
 * archive check refuses (UnsafeArchive, ArchiveTooLarge past `limits`) before it gets a
 * name a run could use: it waits in incoming/ until checked. The body, the count and the
 * file are one pipeline: a client that goes away mid-body, a body too large or a full disk
 * each end it with an error to the caller, the partial file removed, and never with an
 * unhandled stream error that would take the server down.
 */
export async function storeSource(body: ReadableStream<Uint8Array>, sources: SourceStore, maxBytes: number, limits: ArchiveLimits): Promise<string> {
  const partial = incoming(sources);
  try {
    await saveBody(body, partial, maxBytes, sourceArchive);
    await checkArchive(partial, limits);
    return (await sources.blobs.adopt(partial, sourceArchive)).sha256;
  } finally {
    rmSync(partial, { force: true });
  }
}

/**
 * The archive unpacked, once per digest, for the coordinator's own reading (a submitted
 * pipeline file and its scripts): a local cache under trees/, fetched from the blob store
 * when missing. An upload is someone else's bytes: every member is checked again before
 * tar sees it (an archive may have been stored before the check, or under larger limits),
 * and nothing unpacked keeps the uploader's owner or modes.
 */
export async function sourceTree(sources: SourceStore, digest: string, limits: ArchiveLimits): Promise<string> {
  const tree = treePath(sources.dir, digest);
  if (existsSync(tree)) {
    // Used again: retention takes only trees unused for a while, and the run about to name this one is not created yet.
    const now = new Date();
    utimesSync(tree, now, now);
    return tree;
  }
  const archive = incoming(sources);
  const partial = `${tree}.${newId('a')}`;
  try {
    await pipeline(await sources.blobs.read(digest), createWriteStream(archive, { mode: 0o600 }));
    await checkArchive(archive, limits);
    mkdirSync(partial, { recursive: true, mode: 0o700 });
    await unpack(archive, partial);
    if (existsSync(tree)) rmSync(partial, { recursive: true, force: true });
    else renameSync(partial, tree);
    return tree;
  } finally {
    rmSync(archive, { force: true });
    rmSync(partial, { recursive: true, force: true });
  }
}

/** Where the coordinator's unpacked copy of an archive is (or would be). */
export function treePath(sourcesDir: string, digest: string): string {
  if (!idPatterns.digest.test(digest)) throw new Error(`not a source digest: ${digest.slice(0, 80)}`);
  return join(sourcesDir, 'trees', digest);
}

/** A private name for an archive on its way into, or out of, the blob store. */
function incoming(sources: SourceStore): string {
  const dir = join(sources.dir, 'incoming');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return join(dir, `${newId('a')}.partial`);
}
