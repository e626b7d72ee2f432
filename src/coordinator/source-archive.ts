import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join, resolve as absolute } from 'node:path';
import { checkArchive, type ArchiveLimits } from '../archive/check.ts';
import { runTar, unpack } from '../archive/tar.ts';
import { idPatterns, newId } from '../util/ids.ts';
import { saveBody } from '../util/save-body.ts';

/** What BodyTooLarge names for an uploaded source archive. */
export const sourceArchive = 'the source archive';

/**
 * A run's source tree as one archive, named by its content, so workers fetch and cache it
 * once per revision and remote machines need no access to the repository. `files` (paths
 * relative to `sourceDir`) packs exactly those, as a working copy's VCS chose them;
 * without, the whole directory but .git and node_modules.
 */
export async function packSource(sourceDir: string, archivesDir: string, files?: string[]): Promise<string> {
  mkdirSync(archivesDir, { recursive: true, mode: 0o700 });
  const partial = join(archivesDir, `${newId('a')}.partial`);
  const list = `${partial}.files`;
  try {
    // A list read verbatim: a file named like an option stays a file name.
    if (files) writeFileSync(list, files.map((file) => `${file}\0`).join(''), { mode: 0o600 });
    const members = files ? ['--no-recursion', '--null', '--verbatim-files-from', `--files-from=${absolute(list)}`] : ['--exclude=.git', '--exclude=node_modules', '.'];
    await runTar(['--create', '--gzip', `--file=${absolute(partial)}`, `--directory=${absolute(sourceDir)}`, ...members]);
    const digest = await sha256File(partial);
    const final = archivePath(archivesDir, digest);
    if (existsSync(final)) {
      rmSync(partial);
      // Fresh again, so retention (which takes only old archives) leaves it to the run about to name it.
      const now = new Date();
      utimesSync(final, now, now);
    } else renameSync(partial, final);
    return digest;
  } catch (error) {
    rmSync(partial, { force: true });
    throw new Error(`cannot pack the source tree ${sourceDir}: ${(error as Error).message}`);
  } finally {
    rmSync(list, { force: true });
  }
}

/**
 * Keeps an uploaded archive under its sha256; refuses one past `maxBytes` (BodyTooLarge), and one the
 * archive check refuses (UnsafeArchive, ArchiveTooLarge past `limits`) before it gets a
 * name a run could use. The body, the count and the file are one pipeline: a client that
 * goes away mid-body, a body too large or a full disk each end it with an error to the
 * caller, the partial file removed, and never with an unhandled stream error that would
 * take the server down.
 */
export async function storeSource(body: ReadableStream<Uint8Array>, archivesDir: string, maxBytes: number, limits: ArchiveLimits): Promise<string> {
  mkdirSync(archivesDir, { recursive: true, mode: 0o700 });
  const partial = join(archivesDir, `${newId('a')}.partial`);
  const hash = createHash('sha256');
  try {
    await saveBody(body, partial, maxBytes, sourceArchive, (chunk) => hash.update(chunk));
    await checkArchive(partial, limits);
    const digest = hash.digest('hex');
    renameSync(partial, archivePath(archivesDir, digest));
    return digest;
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  }
}

/**
 * The archive unpacked, once per digest, for the coordinator's own reading (a submitted
 * pipeline file and its scripts). An upload is someone else's bytes: every member is
 * checked again before tar sees it (an archive may have been stored before the check, or
 * under larger limits), and nothing unpacked keeps the uploader's owner or modes.
 */
export async function sourceTree(archivesDir: string, digest: string, limits: ArchiveLimits): Promise<string> {
  const archive = archivePath(archivesDir, digest);
  const tree = join(archivesDir, 'trees', digest);
  if (existsSync(tree)) return tree;
  await checkArchive(archive, limits);
  const partial = `${tree}.${newId('a')}`;
  mkdirSync(partial, { recursive: true, mode: 0o700 });
  try {
    await unpack(archive, partial);
    if (existsSync(tree)) rmSync(partial, { recursive: true, force: true });
    else renameSync(partial, tree);
    return tree;
  } catch (error) {
    rmSync(partial, { recursive: true, force: true });
    throw error;
  }
}

export function archivePath(archivesDir: string, digest: string): string {
  if (!idPatterns.digest.test(digest)) throw new Error(`not a source digest: ${digest.slice(0, 80)}`);
  return join(archivesDir, `${digest}.tar.gz`);
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path).on('data', (chunk) => hash.update(chunk)).on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}
