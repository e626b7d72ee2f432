/** A committed revision's files, without the repository, as `git archive` and `hg archive` give them. */
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { unpack } from '../archive/tar.ts';
import { runVcs } from './command.ts';
import type { WorkingCopy } from './working-copy.ts';

/**
 * Writes revision `id` of `repo` to `file` as a gzipped tar, its files at the top: the same
 * bytes for the same revision every time (git honours export-ignore attributes; hg leaves
 * out its .hg_archival.txt stamp). The VCS writes the tar and zlib compresses it, since
 * hg's gzip header carries the time of export.
 */
export async function exportArchive(repo: WorkingCopy, id: string, file: string): Promise<void> {
  const scratch = mkdtempSync(join(tmpdir(), 'slipway-export-'));
  try {
    const tar = join(scratch, 'revision.tar');
    if (repo.vcs === 'git') await runVcs('git', repo.root, ['archive', '--format=tar', `--output=${tar}`, id]);
    else await runVcs('hg', repo.root, ['archive', '--config', 'ui.archivemeta=false', '--rev', id, '--type', 'tar', '--prefix', '.', '--', tar]);
    await pipeline(createReadStream(tar), createGzip(), createWriteStream(file));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Writes revision `id` of `repo` into the existing directory `dir`. */
export async function exportRevision(repo: WorkingCopy, id: string, dir: string): Promise<void> {
  const scratch = mkdtempSync(join(tmpdir(), 'slipway-export-'));
  try {
    const archive = join(scratch, 'revision.tar.gz');
    await exportArchive(repo, id, archive);
    await unpack(archive, dir);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
