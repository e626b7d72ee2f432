/**
 * One mirror repository on the server, git or hg: what the bundle negotiation, a try, a
 * fetch from a remote and the garbage collection ask of it.
 * Every id given here is checked as a full hex id first, so revsets and ref names built
 * from them hold nothing else; names from users (a remote's branch) go as arguments only.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runVcs, type Vcs } from './command.ts';

/** A full commit or changeset id: sha-1, or a git sha-256. */
export const fullId = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

export interface MirrorRepo {
  readonly vcs: Vcs;
  readonly dir: string;
  /** Makes the empty repository. */
  create(): Promise<void>;
  /** Those of `ids` the mirror holds (with all their history). */
  known(ids: string[]): Promise<string[]>;
  /** Adds a bundle's changesets; the VCS's refusal (corrupt, lacks a base) as a VcsError. */
  applyBundle(file: string): Promise<void>;
  /** Keeps `revision` for try `tryId` out of shared history: its own ref (git), secret (hg), public ancestry up to `publicBase` (hg). */
  keepTry(tryId: string, revision: string, publicBase: string | null): Promise<void>;
  /** Lets go of expired tries (`live`: the revisions of the tries still kept) and drops what nothing keeps. */
  dropTries(expired: { id: string; revision: string }[], live: string[]): Promise<void>;
  /** Fetches `name` (a branch, tag, bookmark or full id) from `url`; the id it names there. */
  fetch(url: string, remoteKey: string, name: string): Promise<string>;
}

export function mirrorRepo(vcs: Vcs, dir: string): MirrorRepo {
  return vcs === 'git' ? new GitMirror(dir) : new HgMirror(dir);
}

/** A try or fetch the mirror refuses for a reason of its own (not the VCS's). */
export class MirrorRefusal extends Error {}

export function checkFullId(id: string): string {
  if (!fullId.test(id)) throw new Error(`not a full revision id: ${JSON.stringify(id.slice(0, 80))}`);
  return id;
}

class GitMirror implements MirrorRepo {
  readonly vcs = 'git';
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  #git(args: string[]): Promise<string> {
    // Remotes reach it through these transports only (no ext::, no fd::).
    return runVcs('git', this.dir, args, { env: { GIT_ALLOW_PROTOCOL: 'file:git:http:https:ssh' } });
  }

  async create(): Promise<void> {
    await runVcs('git', '/', ['init', '--quiet', '--bare', this.dir]);
    // Objects go only when the garbage collection drops expired tries.
    await this.#git(['config', 'gc.auto', '0']);
  }

  async known(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const out = await this.#git(['rev-list', '--no-walk=unsorted', '--ignore-missing', ...ids.map(checkFullId), '--']);
    return out.split('\n').filter(Boolean);
  }

  async applyBundle(file: string): Promise<void> {
    // verify names the missing prerequisites in git's words before anything is written.
    await this.#git(['bundle', 'verify', file]);
    await this.#git(['bundle', 'unbundle', file]);
  }

  async keepTry(tryId: string, revision: string): Promise<void> {
    // The commit (and its history) must be whole here: rev-list walks it to the root.
    await this.#git(['rev-list', '--quiet', '--objects', checkFullId(revision), '--']);
    await this.#git(['update-ref', `refs/slipway/try/${tryId}`, revision]);
  }

  async dropTries(expired: { id: string }[]): Promise<void> {
    if (expired.length === 0) return;
    for (const { id } of expired) await this.#git(['update-ref', '-d', `refs/slipway/try/${id}`]);
    await this.#git(['gc', '--quiet', '--prune=now']);
  }

  async fetch(url: string, remoteKey: string, name: string): Promise<string> {
    const space = `refs/slipway/remotes/${remoteKey}`;
    await this.#git(['fetch', '--quiet', '--no-tags', '--force', '--end-of-options', url, `refs/heads/*:${space}/heads/*`, `refs/tags/*:${space}/tags/*`]);
    const candidates = fullId.test(name) ? [name] : [`${space}/heads/${name}`, `${space}/tags/${name}`];
    for (const candidate of candidates) {
      const id = await this.#git(['rev-parse', '--verify', '--quiet', `${candidate}^{commit}`]).catch(() => '');
      if (id.trim()) return id.trim();
    }
    throw new MirrorRefusal(`${url} has no branch, tag or commit ${name}`);
  }
}

class HgMirror implements MirrorRepo {
  readonly vcs = 'hg';
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  #hg(args: string[]): Promise<string> {
    // No extension or hook of the server user's config runs on submitted changesets.
    return runVcs('hg', this.dir, args, { env: { HGRCPATH: join(this.dir, '.hg', 'hgrc') } });
  }

  async create(): Promise<void> {
    await runVcs('hg', '/', ['init', this.dir], { env: { HGRCPATH: '' } });
    // Non-publishing: what a bundle brings stays draft until told otherwise, so a try never becomes shared history.
    writeFileSync(join(this.dir, '.hg', 'hgrc'), '[phases]\npublish = False\n');
  }

  async known(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const out = await this.#hg(['log', '--hidden', '--rev', ids.map((id) => `id(${checkFullId(id)})`).join(' + '), '--template', '{node}\n']);
    return out.split('\n').filter(Boolean);
  }

  async applyBundle(file: string): Promise<void> {
    await this.#hg(['unbundle', '--quiet', file]);
    // Secret at once, so what a refused try brought is stripped with the expired ones, not kept as a draft head.
    if ((await this.#hg(['log', '--rev', 'draft()', '--template', 'x'])) !== '') await this.#hg(['phase', '--force', '--secret', '--rev', 'draft()']);
  }

  async keepTry(_tryId: string, revision: string, publicBase: string | null): Promise<void> {
    // What the user's repository has public is shared history here too; the rest of the try stays secret.
    if (publicBase !== null) await this.#hg(['phase', '--public', '--rev', `id(${checkFullId(publicBase)})`]);
    if ((await this.#hg(['log', '--rev', `id(${revision})`, '--template', '{node}'])) !== revision) throw new MirrorRefusal(`the bundle did not bring ${revision}`);
  }

  async dropTries(_expired: unknown[], live: string[]): Promise<void> {
    // Secret changesets no live try needs; a descendant of one is never needed either, as it is secret and none of them.
    const keep = live.map((id) => `id(${checkFullId(id)})`).join(' + ');
    const drop = keep ? `secret() - ::(${keep})` : 'secret()';
    if ((await this.#hg(['log', '--rev', drop, '--template', 'x'])) === '') return;
    await this.#hg(['--config', 'extensions.strip=', 'strip', '--no-backup', '--quiet', '--rev', drop]);
  }

  async fetch(url: string, _remoteKey: string, name: string): Promise<string> {
    const id = (await this.#hg(['identify', '--rev', name, '--template', '{node}', '--', url])).trim();
    if (!fullId.test(id)) throw new MirrorRefusal(`${url} has no revision ${name}`);
    await this.#hg(['pull', '--quiet', '--rev', id, '--', url]);
    return id;
  }
}
