import { cp, mkdir, rename, rm } from 'node:fs/promises';
import { createWriteStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import { runTar } from '../coordinator/source-archive.ts';

/**
 * The run's source tree, fetched once per digest and kept on the machine; every task gets
 * a fresh copy of it as its working directory.
 */
export class SourceCache {
  readonly #root: string;

  constructor(root: string) {
    this.#root = root;
  }

  async ensure(digest: string, download: () => Promise<Response>): Promise<string> {
    if (!/^[0-9a-f]{64}$/.test(digest)) throw new Error(`not a source digest: ${digest}`);
    const tree = join(this.#root, 'sources', digest);
    if (existsSync(tree)) return tree;
    const partial = join(this.#root, 'sources', `.${digest}.${randomBytes(4).toString('hex')}`);
    await mkdir(partial, { recursive: true, mode: 0o700 });
    try {
      const archive = `${partial}.tar.gz`;
      const response = await download();
      await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), createWriteStream(archive, { mode: 0o600 }));
      await runTar(['--extract', '--gzip', '--file', archive, '--directory', partial, '--no-same-owner']);
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
