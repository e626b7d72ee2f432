/**
 * Bringing a committed revision to a server: a try sends the changesets its mirror lacks
 * as one bundle; a fetch has the server pull from a remote repository. Either way the
 * server answers with the revision's archive, by digest, which a run then uses.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commonBases, createBundle, historyOf, publicBase } from '../vcs/bundle.ts';
import { runVcs } from '../vcs/command.ts';
import type { Revision } from '../vcs/revision.ts';
import type { WorkingCopy } from '../vcs/working-copy.ts';
import { ServerRefused, type ApiClient } from './api-client.ts';

/** A revision as the server keeps it, with the archive of its files. */
export interface SentRevision {
  vcs: 'git' | 'hg';
  repository: string;
  revision: string;
  try: string | null;
  /** The digest of the revision's archive: a run's `source`. */
  source: string;
  /** What the try's bundle weighed (0: the server had every changeset). */
  bundle_bytes?: number;
  /** A fetched revision's, as the server's mirror has them. */
  author?: string;
  message?: string;
}

/**
 * The server could not apply a bundle or fetch a revision: an infrastructure error (exit
 * code 1) carrying the VCS's own message, never a run.
 */
export class RevisionNotApplied extends Error {}

/** What a try sent, for the user: the bundle's size and changesets, and the newest revision of its line the server had. */
export interface TrySent extends SentRevision { changesets: number; bytes: number; base: string | null }

/**
 * Sends revision `revision` of `repo` (of repository identity `repository`) as a try: only
 * the changesets the server's mirror lacks.
 */
export async function sendTry(api: ApiClient, repo: WorkingCopy, repository: string, revision: Revision): Promise<TrySent> {
  const { line, others } = await historyOf(repo, revision.id);
  const bases = await commonBases(line, others, async (candidates) =>
    (await api.json<{ known: string[] }>('POST', '/api/v1/mirrors/known', { vcs: repo.vcs, repository, candidates })).known);
  const scratch = mkdtempSync(join(tmpdir(), 'slipway-try-'));
  try {
    const file = join(scratch, 'try.bundle');
    let changesets = 0;
    if (bases[0] === revision.id) writeFileSync(file, '');
    else {
      changesets = await countChangesets(repo, revision.id, bases);
      await createBundle(repo, revision.id, bases, file);
    }
    const base = await publicBase(repo, revision.id);
    const query = new URLSearchParams({ vcs: repo.vcs, repository, revision: revision.id, ...(base ? { public: base } : {}) });
    const sent = await applied(api.upload<SentRevision>(`/api/v1/tries?${query}`, file, 'application/octet-stream'));
    return { ...sent, changesets, bytes: statSync(file).size, base: bases.find((id) => line.includes(id)) ?? null };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Has the server fetch `name` from the remote repository `url` into its mirror. */
export function fetchOnServer(api: ApiClient, url: string, name: string): Promise<SentRevision> {
  return applied(api.json<SentRevision>('POST', '/api/v1/fetches', { repo: url, revision: name }));
}

/** A server's 422 or 413 for a bundle or fetch it could not apply, as what it is: no usage mistake. */
async function applied(answer: Promise<SentRevision>): Promise<SentRevision> {
  try {
    return await answer;
  } catch (error) {
    if (error instanceof ServerRefused && (error.status === 422 || error.status === 413)) throw new RevisionNotApplied(error.message);
    throw error;
  }
}

async function countChangesets(repo: WorkingCopy, revision: string, bases: string[]): Promise<number> {
  const out = repo.vcs === 'git'
    ? await runVcs('git', repo.root, ['rev-list', '--count', revision, ...bases.map((id) => `^${id}`), '--'])
    : await runVcs('hg', repo.root, ['log', '--rev', `only(id(${revision}), ${bases.length ? bases.map((id) => `id(${id})`).join(' + ') : 'null'})`, '--template', 'x']);
  return repo.vcs === 'git' ? Number(out.trim()) : out.length;
}

