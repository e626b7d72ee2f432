/**
 * The server's mirror repositories: one per repository identity (git's root commit, hg's
 * revision 0), holding the history tries and fetches brought. Tries stay out of shared
 * history and are dropped after `tryExpiryMs`, so a mirror never grows heads without bound.
 * Every change to one mirror runs after the one before it (a try, a fetch, the garbage
 * collection), never two at once.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newId } from '../util/ids.ts';
import type { Vcs } from './command.ts';
import { exportArchive } from './export.ts';
import { repositoryIdentity } from './identity.ts';
import { resolveRevision, type Revision } from './revision.ts';
import { checkFullId, fullId, MirrorRefusal, mirrorRepo, type MirrorRepo } from './mirror-repo.ts';
import { checkRemote, remoteVcs } from './remote.ts';

export interface MirrorSettings {
  /** Where the mirrors are: `mirrors/` in the server's state directory. */
  root: string;
  /** A try's revision is kept this long after it came. */
  tryExpiryMs: number;
  /** Directories `file://` remotes may be in (none: no file:// remote). */
  fileRemotes: readonly string[];
}

/** A revision a try sent or a fetch brought, in the mirror of its repository. */
export interface MirroredRevision {
  vcs: Vcs;
  /** The repository's identity. */
  repository: string;
  revision: string;
  /** The try that brought it, if one did. */
  try: string | null;
}

interface TryRecord { vcs: Vcs; repository: string; revision: string; at: number }

/** `[server] try_expiry`'s default: a week. */
export const defaultTryExpiryMs = 7 * 24 * 3600_000;

/** A try id: `try-` and 8 hex digits. */
export const tryIdPattern = /^try-[0-9a-f]{8}$/;

export class Mirrors {
  readonly #settings: MirrorSettings;
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(settings: MirrorSettings) {
    this.#settings = settings;
    mkdirSync(settings.root, { recursive: true, mode: 0o700 });
  }

  get settings(): MirrorSettings {
    return this.#settings;
  }

  /** Those of `candidates` the mirror of `repository` holds; none when there is no mirror yet. */
  async known(vcs: Vcs, repository: string, candidates: string[]): Promise<string[]> {
    const dir = this.#dir(vcs, repository);
    if (!existsSync(dir)) return [];
    return mirrorRepo(vcs, dir).known(candidates);
  }

  /**
   * A try of `revision`: the bundle's changesets (none when the mirror has the revision
   * already) go into the repository's mirror, and the revision is kept under a new try id.
   * The mirror checks that the revision belongs to the repository it claims.
   */
  async receiveTry(vcs: Vcs, repository: string, revision: string, publicBase: string | null, bundle: string | null, now: number): Promise<MirroredRevision> {
    checkFullId(revision);
    if (publicBase !== null) checkFullId(publicBase);
    const dir = this.#dir(vcs, repository);
    return this.#serially(dir, async () => {
      const repo = await this.#open(vcs, dir);
      if (bundle !== null) await repo.applyBundle(bundle);
      else if ((await repo.known([revision])).length === 0) throw new MirrorRefusal(`the server has no ${revision} and no bundle came with it`);
      const identity = await repositoryIdentity({ vcs, root: dir }, revision);
      if (identity !== repository) throw new MirrorRefusal(`${revision} belongs to the repository whose first revision is ${identity}, not ${repository}`);
      const id = newTryId();
      await repo.keepTry(id, revision, publicBase);
      this.#writeLedger(dir, { ...this.#ledger(dir), [id]: { vcs, repository, revision, at: now } });
      return { vcs, repository, revision, try: id };
    });
  }

  /** The try `id`, while it is kept. */
  tryOf(id: string): MirroredRevision | undefined {
    if (!tryIdPattern.test(id)) return undefined;
    for (const name of this.#mirrorNames()) {
      const record = this.#ledger(join(this.#settings.root, name))[id];
      if (record) return { vcs: record.vcs, repository: record.repository, revision: record.revision, try: id };
    }
    return undefined;
  }

  /**
   * Fetches `name` from the remote `url` into the mirror of its repository. The first fetch
   * from a remote goes to a fresh repository, since its identity is known only after it.
   */
  async fetch(url: string, name: string): Promise<MirroredRevision> {
    const remote = checkRemote(url, this.#settings.fileRemotes);
    if (name === '' || name.startsWith('-') || /[\0-\x1f]/.test(name)) throw new MirrorRefusal(`'${name.slice(0, 100)}' is not a revision name`);
    const key = createHash('sha256').update(remote).digest('hex').slice(0, 24);
    const recordFile = join(this.#settings.root, 'remotes', `${key}.json`);
    const known = existsSync(recordFile) ? JSON.parse(readFileSync(recordFile, 'utf8')) as { vcs: Vcs; repository: string } : undefined;
    if (known) {
      const dir = this.#dir(known.vcs, known.repository);
      return this.#serially(dir, async () => {
        const repo = await this.#open(known.vcs, dir);
        const revision = await repo.fetch(remote, key, name);
        return { vcs: known.vcs, repository: known.repository, revision, try: null };
      });
    }
    const vcs = await remoteVcs(remote);
    const staging = join(this.#settings.root, 'incoming', newTryId());
    mkdirSync(join(this.#settings.root, 'incoming'), { recursive: true, mode: 0o700 });
    try {
      const fresh = mirrorRepo(vcs, staging);
      await fresh.create();
      const revision = await fresh.fetch(remote, key, name);
      const repository = await repositoryIdentity({ vcs, root: staging }, revision);
      const dir = this.#dir(vcs, repository);
      await this.#serially(dir, async () => {
        if (existsSync(dir)) await mirrorRepo(vcs, dir).fetch(remote, key, revision);
        else renameSync(staging, dir);
      });
      mkdirSync(join(this.#settings.root, 'remotes'), { recursive: true, mode: 0o700 });
      writeFileSync(recordFile, JSON.stringify({ vcs, repository }), { mode: 0o600 });
      return { vcs, repository, revision, try: null };
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }

  /**
   * `revision` as a .tar.gz handed to `keep` (which names it by its digest), once per
   * revision: later runs of it get the digest from the cache.
   */
  async exportRevision(source: MirroredRevision, keep: (file: string) => Promise<string>): Promise<string> {
    const dir = this.#dir(source.vcs, source.repository);
    const cached = join(dir, '.slipway-exports', checkFullId(source.revision));
    if (existsSync(cached)) return readFileSync(cached, 'utf8');
    return this.#serially(dir, async () => {
      if (existsSync(cached)) return readFileSync(cached, 'utf8');
      const file = join(this.#settings.root, 'incoming', `${newTryId()}.tar.gz`);
      mkdirSync(join(this.#settings.root, 'incoming'), { recursive: true, mode: 0o700 });
      try {
        await exportArchive({ vcs: source.vcs, root: dir }, source.revision, file);
        const digest = await keep(file);
        mkdirSync(join(dir, '.slipway-exports'), { recursive: true, mode: 0o700 });
        writeFileSync(cached, digest, { mode: 0o600 });
        return digest;
      } finally {
        rmSync(file, { force: true });
      }
    });
  }

  /** The author and message of a mirrored revision, as its VCS recorded them. */
  async describe(source: MirroredRevision): Promise<Pick<Revision, 'author' | 'message'>> {
    const { author, message } = await resolveRevision({ vcs: source.vcs, root: this.#dir(source.vcs, source.repository) }, checkFullId(source.revision));
    return { author, message };
  }

  /**
   * Drops the tries older than the expiry from every mirror, and what a request that broke
   * off left in `incoming/` an hour ago; resolves with how many tries went.
   */
  async collect(now: number): Promise<number> {
    const incoming = join(this.#settings.root, 'incoming');
    for (const name of existsSync(incoming) ? readdirSync(incoming) : []) {
      const path = join(incoming, name);
      if (now - statSync(path).mtimeMs > 3600_000) rmSync(path, { recursive: true, force: true });
    }
    let dropped = 0;
    for (const name of this.#mirrorNames()) {
      const dir = join(this.#settings.root, name);
      dropped += await this.#serially(dir, async () => {
        const ledger = this.#ledger(dir);
        const expired = Object.entries(ledger).filter(([, record]) => now - record.at >= this.#settings.tryExpiryMs);
        if (expired.length === 0) return 0;
        const live = Object.fromEntries(Object.entries(ledger).filter(([, record]) => now - record.at < this.#settings.tryExpiryMs));
        await mirrorRepo(expired[0]![1].vcs, dir).dropTries(expired.map(([id, record]) => ({ id, revision: record.revision })), Object.values(live).map((record) => record.revision));
        this.#writeLedger(dir, live);
        return expired.length;
      });
    }
    return dropped;
  }

  #dir(vcs: Vcs, repository: string): string {
    if (!fullId.test(repository)) throw new MirrorRefusal(`not a repository identity (its first revision's full id): ${repository.slice(0, 80)}`);
    return join(this.#settings.root, `${vcs}-${repository}`);
  }

  #mirrorNames(): string[] {
    return readdirSync(this.#settings.root).filter((name) => /^(git|hg)-[0-9a-f]+$/.test(name));
  }

  async #open(vcs: Vcs, dir: string): Promise<MirrorRepo> {
    const repo = mirrorRepo(vcs, dir);
    if (!existsSync(dir)) await repo.create();
    return repo;
  }

  #ledger(dir: string): Record<string, TryRecord> {
    const file = join(dir, '.slipway-tries.json');
    return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as Record<string, TryRecord> : {};
  }

  #writeLedger(dir: string, ledger: Record<string, TryRecord>): void {
    const file = join(dir, '.slipway-tries.json');
    writeFileSync(`${file}.new`, JSON.stringify(ledger), { mode: 0o600 });
    renameSync(`${file}.new`, file);
  }

  /** Runs `work` after every earlier change to the mirror in `dir` has ended. */
  #serially<T>(dir: string, work: () => Promise<T>): Promise<T> {
    const before = this.#queues.get(dir) ?? Promise.resolve();
    const result = before.catch(() => undefined).then(work);
    this.#queues.set(dir, result);
    void result.finally(() => { if (this.#queues.get(dir) === result) this.#queues.delete(dir); }).catch(() => undefined);
    return result;
  }
}

function newTryId(): string {
  return `try-${newId('t').slice(2)}`;
}
