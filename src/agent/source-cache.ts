import { cp, mkdir, rename, rm } from 'node:fs/promises';
import { createWriteStream, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash, randomBytes } from 'node:crypto';
import { checkArchive, type ArchiveLimits } from '../coordinator/archive-check.ts';
import { unpack } from '../coordinator/source-archive.ts';
import { idPatterns } from '../util/ids.ts';

/** Names of working directories: attempt ids, `init`, `cleanup`. Never a path. */
const JOB_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;

/**
 * The run's source tree, fetched once per digest and kept on the machine; every task gets
 * a fresh copy of it as its working directory.
 */
export class SourceCache {
  readonly #root: string;

  constructor(root: string) {
    this.#root = resolve(root);
  }

  /**
   * The tree of `digest`. The download must hash to it, or the cache would keep under one
   * digest the bytes of another (a later run on this machine would get them), and its
   * members are checked before they are unpacked, against the coordinator's limits.
   */
  async ensure(digest: string, download: () => Promise<Response>, limits: ArchiveLimits): Promise<string> {
    if (!idPatterns.digest.test(digest)) throw new Error(`not a source digest: ${digest.slice(0, 80)}`);
    const tree = join(this.#root, 'sources', digest);
    if (existsSync(tree)) return tree;
    const partial = join(this.#root, 'sources', `.${digest}.${randomBytes(4).toString('hex')}`);
    await mkdir(partial, { recursive: true, mode: 0o700 });
    try {
      const archive = `${partial}.tar.gz`;
      const response = await download();
      const hash = createHash('sha256');
      const hashing = new Transform({ transform(chunk: Buffer, _encoding, done) { hash.update(chunk); done(null, chunk); } });
      await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), hashing, createWriteStream(archive, { mode: 0o600 }));
      const got = hash.digest('hex');
      if (got !== digest) throw new Error(`the source archive downloaded for ${digest} has the digest ${got}`);
      await checkArchive(archive, limits);
      await unpack(archive, partial);
      await rm(archive);
      await rename(partial, tree).catch(async (error: NodeJS.ErrnoException) => {
        // Another agent on this machine cached it first: theirs is as good.
        if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
        await rm(partial, { recursive: true, force: true });
      });
      return tree;
    } catch (error) {
      await rm(partial, { recursive: true, force: true });
      await rm(`${partial}.tar.gz`, { force: true });
      throw error;
    }
  }

  /** A fresh working directory holding a copy of the tree. */
  async workdir(tree: string | null, name: string): Promise<string> {
    // The name comes from the coordinator (an attempt id): it is checked, not trusted.
    if (!JOB_NAME.test(name)) throw new Error(`not a job name: ${JSON.stringify(name.slice(0, 80))}`);
    const dir = join(this.#root, 'work', name);
    await rm(dir, { recursive: true, force: true });
    if (tree) await cp(tree, dir, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    else await mkdir(dir, { recursive: true });
    return dir;
  }

  async discard(dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  }
}
