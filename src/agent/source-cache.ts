import { execFile, spawnSync } from 'node:child_process';
import { chmod, lstat, mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { chmodSync, closeSync, constants, copyFileSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, readSync, renameSync, rmSync, symlinkSync, utimesSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { checkArchive, type ArchiveLimits } from '../archive/check.ts';
import { unpack } from '../archive/tar.ts';
import { writeHashed } from '../util/hashed-write.ts';
import { idPatterns } from '../util/ids.ts';
import { unmount, unmountUnder } from '../util/mounts.ts';

const run = promisify(execFile);

/** Names of working directories: attempt ids, `init`, `cleanup`. Never a path. */
const JOB_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;

/**
 * How a task gets the tree: an overlay mount of the cached tree, or a copy of it. Measured
 * by bench/source-copy.ts on a 2-core ext4 machine (no reflinks), per task, made and
 * discarded: a copy costs 0.5 to 1 ms per file (creating a file costs there what copying
 * 100 KB does) and about 0.4 ms per MB; an overlay a fixed 30 to 45 ms, mostly the two
 * processes that mount and unmount it (node cannot call mount(2)). A tree of 2,000 files
 * and 50 MB: 1 s to copy, 43 ms to mount (fs.cp took 2.7 s); one of 5 files: 4 to 6 ms to
 * copy (fs.cp 11 ms), 28 ms to mount. They cost the same at 30 to 50 files, or 64 MB in a
 * few. Trees of at least `overlayMinFiles` files or `overlayMinBytes` bytes are mounted
 * where the agent can, the rest copied. Those figures are of a copy that handed each step
 * to the thread pool, 16 at a time; copyTree now copies file after file in the agent's own
 * thread, which costs less on every tree measured: 5 files copied and removed in 0.5
 * against 2.4 ms of CPU; the bench's 2,001 files and 50 MB copied in 0.70 against about
 * 1 s. A mount then pays from more files than 40; the threshold was not measured again.
 * A worker's next task gets the last one's directory refreshed in place (refreshTree): 2.5
 * against 12 ms for the 5 files, 353 against 599 ms for the 2,001 files and 50 MB, on this
 * journal-less ext4 where each new inode is slow (bench/source-copy.ts).
 */
export type TreeMethod = 'overlay' | 'copy';
export const overlayMinFiles = 40;
export const overlayMinBytes = 64 * 1024 * 1024;

export interface SourceCacheOptions {
  /** false: tasks always get a copy, never an overlay. */
  overlay?: boolean;
  overlayMinFiles?: number;
  overlayMinBytes?: number;
}

/**
 * Mounts still up when the process exits (an agent that failed) are detached, so neither
 * the next `rm -rf` of the work directory nor `slipway purge` finds its way barred. What
 * a SIGKILL leaves, `slipway purge` and the providers' stop unmount (see util/mounts.ts).
 */
const exitHooks = new Set<Set<string>>();
process.once('exit', () => {
  for (const mounted of exitHooks) {
    for (const dir of mounted) {
      spawnSync('umount', ['-l', dir], { stdio: 'ignore' });
      for (const path of [dir, join(dirname(dirname(dir)), 'layers', basename(dir))]) {
        try {
          rmSync(path, { recursive: true, force: true });
        } catch {
          // Detached, it no longer stands in the way: what is left of it is files.
        }
      }
    }
  }
});

/**
 * The run's source tree, fetched once per digest and kept on the machine; every task gets
 * a fresh copy of it (or an overlay: see workdir) as its working directory.
 */
export class SourceCache {
  readonly #root: string;

  readonly #options: SourceCacheOptions;
  readonly #thresholds: { files: number; bytes: number };
  /** How each tree is given to tasks; see methodFor. */
  readonly #methods = new Map<string, Promise<TreeMethod>>();
  /** The overlay options this kernel takes, '' for none, null when this agent cannot mount one. */
  #overlayOptions: Promise<string | null> | undefined;
  /** Working directories with an overlay mounted: unmounted by discard, or when the agent exits. */
  readonly #mounted = new Set<string>();
  /** A copy of a tree made before a task asked for it (see copyAhead). */
  #ahead: { tree: string; dir: string } | undefined;

  constructor(root: string, options: SourceCacheOptions = {}) {
    this.#root = resolve(root);
    this.#options = options;
    this.#thresholds = { files: options.overlayMinFiles ?? overlayMinFiles, bytes: options.overlayMinBytes ?? overlayMinBytes };
    exitHooks.add(this.#mounted);
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
      const got = (await writeHashed(response.body, archive)).sha256;
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

  /**
   * A fresh working directory holding the tree: an overlay of it where this agent may mount
   * one and the tree is big enough to pay for the mount, a copy otherwise. Either way what
   * the task writes or deletes stays in its directory, and `discard` takes it all away.
   */
  async workdir(tree: string | null, name: string): Promise<string> {
    // The name comes from the coordinator (an attempt id): it is checked, not trusted.
    if (!JOB_NAME.test(name)) throw new Error(`not a job name: ${JSON.stringify(name.slice(0, 80))}`);
    const dir = join(this.#root, 'work', name);
    // What an agent that died left under this name (init and cleanup come again) goes first.
    if (existsSync(dir) || existsSync(join(this.#root, 'layers', name))) await this.#remove(dir, name);
    if (!tree) {
      await mkdir(dir, { recursive: true });
      return dir;
    }
    if ((await this.methodFor(tree)) === 'overlay' && (await this.#mount(tree, dir, name))) return dir;
    if (this.#ahead?.tree === tree) {
      renameSync(this.#ahead.dir, dir);
      this.#ahead = undefined;
      return dir;
    }
    await mkdir(dirname(dir), { recursive: true });
    copyTree(tree, dir);
    return dir;
  }

  /**
   * Copies `tree` now for the next task that asks for it, which then gets it by a rename:
   * the agent makes it while it waits for its next task, not after. The copy is as fresh as
   * one made later, the cached tree never changing and no task's process being left to
   * touch it. Only one is kept, of the last tree asked for; nothing for trees that are mounted.
   */
  async copyAhead(tree: string | null): Promise<void> {
    if (tree === null || this.#ahead?.tree === tree || (await this.methodFor(tree)) !== 'copy') return;
    this.dropCopyAhead();
    const dir = join(this.#root, 'work', `.ahead-${randomBytes(4).toString('hex')}`);
    copyTree(tree, dir);
    this.#ahead = { tree, dir };
  }

  /** Removes the copy made ahead, if any: the agent is done, or becomes another user. */
  dropCopyAhead(): void {
    if (this.#ahead) removeTree(this.#ahead.dir);
    this.#ahead = undefined;
  }

  /**
   * Done with a task's directory. With `next`, the tree the agent's next task will likely
   * need, the directory becomes that task's copy made ahead (see copyAhead): refreshed where
   * it stands (see refreshTree) rather than removed while another copy is made.
   */
  async discard(dir: string, next: string | null = null): Promise<void> {
    const name = basename(dir);
    if (dirname(dir) !== join(this.#root, 'work') || !JOB_NAME.test(name)) throw new Error(`not a working directory of this cache: ${dir}`);
    if (next === null || this.#mounted.has(dir) || this.#ahead?.tree === next || (await this.methodFor(next)) !== 'copy') {
      await this.#remove(dir, name);
      await this.copyAhead(next);
      return;
    }
    this.dropCopyAhead();
    // A task running as root may have mounted something in its directory: nothing is written through it.
    if (process.getuid?.() === 0) await unmountUnder(dir);
    const ahead = join(this.#root, 'work', `.ahead-${randomBytes(4).toString('hex')}`);
    renameSync(dir, ahead);
    try {
      refreshTree(next, ahead);
    } catch {
      // What the task left cannot be refreshed (a directory it gave away, say): a copy is made anew.
      removeTree(ahead);
      copyTree(next, ahead);
    }
    this.#ahead = { tree: next, dir: ahead };
  }

  /**
   * How tasks get `tree`, decided once per tree: `overlay` when this agent can mount one
   * (found once per agent) and the tree holds enough that copying it costs more than a
   * mount and an unmount (see bench/source-copy.ts), `copy` otherwise.
   */
  methodFor(tree: string): Promise<TreeMethod> {
    let method = this.#methods.get(tree);
    if (!method) {
      method = (async () => {
        // Most trees are small: they are copied without asking whether a mount is possible.
        if (!(await atLeast(tree, this.#thresholds))) return 'copy';
        return (await this.#overlay()) === null ? 'copy' : 'overlay';
      })();
      this.#methods.set(tree, method);
    }
    return method;
  }

  /**
   * Whether this agent can give tasks an overlay of the tree: it runs as root on Linux, the
   * kernel has overlayfs and lets it mount one here (not in a container without
   * CAP_SYS_ADMIN, say), found by mounting one, writing through it and unmounting it. The
   * options are the first this kernel takes: `redirect_dir=on` so a directory of the tree
   * can be renamed (without it rename(2) says EXDEV, which a copy never does), `volatile`
   * so unmounting does not sync the filesystem (a task's directory never outlives it).
   */
  #overlay(): Promise<string | null> {
    this.#overlayOptions ??= (async () => {
      if (this.#options.overlay === false || process.platform !== 'linux' || process.getuid?.() !== 0) return null;
      const probe = join(this.#root, 'layers', `.probe-${randomBytes(4).toString('hex')}`);
      try {
        for (const sub of ['lower', 'upper', 'work', 'merged']) await mkdir(join(probe, sub), { recursive: true });
        await writeFile(join(probe, 'lower', 'file'), 'lower');
        for (const options of ['redirect_dir=on,volatile', 'redirect_dir=on', '']) {
          const layers = `lowerdir=lower,upperdir=upper,workdir=work${options && `,${options}`}`;
          try {
            await run('mount', ['-t', 'overlay', 'overlay', '-o', layers, join(probe, 'merged')], { cwd: probe });
          } catch {
            continue;
          }
          try {
            await writeFile(join(probe, 'merged', 'file'), 'merged');
            const works = (await readFile(join(probe, 'lower', 'file'), 'utf8')) === 'lower' && (await readFile(join(probe, 'upper', 'file'), 'utf8')) === 'merged';
            if (works) return options;
          } finally {
            await unmount(join(probe, 'merged'));
          }
        }
        return null;
      } catch {
        return null;
      } finally {
        await unmountUnder(probe).catch(() => undefined);
        await rm(probe, { recursive: true, force: true }).catch(() => undefined);
      }
    })();
    return this.#overlayOptions;
  }

  /**
   * Mounts an overlay of `tree` at `dir`, its writes going to a directory of its own under
   * `layers`. Paths go to the kernel relative to the cache's root, in an option string
   * where a comma or colon would split them: a tree elsewhere with one in its path is
   * copied instead. False when it could not be mounted, and nothing is left of it.
   */
  async #mount(tree: string, dir: string, name: string): Promise<boolean> {
    const options = await this.#overlay();
    const layers = join(this.#root, 'layers', name);
    const lower = relative(this.#root, tree);
    if (options === null || /[,:\\]/.test(lower)) return false;
    try {
      await mkdir(join(layers, 'work'), { recursive: true, mode: 0o700 });
      // The merged root is the upper directory: it takes the tree's mode and times.
      const top = await stat(tree);
      await mkdir(join(layers, 'upper'), { mode: 0o700 });
      await chmod(join(layers, 'upper'), top.mode & 0o7777);
      await utimes(join(layers, 'upper'), top.atimeMs / 1000, top.mtimeMs / 1000);
      await mkdir(dir, { recursive: true });
      this.#mounted.add(dir);
      const layersOption = `lowerdir=${lower},upperdir=layers/${name}/upper,workdir=layers/${name}/work${options && `,${options}`}`;
      await run('mount', ['-t', 'overlay', 'overlay', '-o', layersOption, dir], { cwd: this.#root });
      return true;
    } catch {
      await this.#remove(dir, name);
      return false;
    }
  }

  /** Removes a working directory and its layers, unmounting what is mounted there first. */
  async #remove(dir: string, name: string): Promise<void> {
    const layers = join(this.#root, 'layers', name);
    if (this.#mounted.delete(dir)) await unmountUnder(dir);
    // A task running as root may have mounted something in its directory: rm -rf must not go through it.
    else if (process.getuid?.() === 0) await unmountUnder(dir);
    removeTree(dir);
    removeTree(layers);
  }
}

/**
 * rm -rf, also of directories that are not writable (a tree may hold one, `go mod download`
 * makes them): where removing is refused, every directory is opened to its owner and it
 * is tried again. In the agent's own thread, as copyTree: a task's directory goes while
 * its report travels, when the agent has nothing else to do.
 */
export function removeTree(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EACCES' && (error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
    openDirectories(dir);
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

function openDirectories(dir: string): void {
  const info = attempt(() => lstatSync(dir));
  if (!info?.isDirectory()) return;
  // What cannot be opened or read is left to the removal, which says why.
  if ((info.mode & 0o700) !== 0o700) attempt(() => chmodSync(dir, (info.mode & 0o7777) | 0o700));
  const entries = attempt(() => readdirSync(dir, { withFileTypes: true })) ?? [];
  for (const entry of entries) if (entry.isDirectory()) openDirectories(join(dir, entry.name));
}

function attempt<T>(work: () => T): T | undefined {
  try {
    return work();
  } catch {
    return undefined;
  }
}

/** Whether `tree` holds at least `limits.files` files (anything but directories) or `limits.bytes` bytes. */
async function atLeast(tree: string, limits: { files: number; bytes: number }): Promise<boolean> {
  const files = (await readdir(tree, { recursive: true, withFileTypes: true })).filter((entry) => !entry.isDirectory());
  if (files.length >= limits.files) return true;
  let bytes = 0;
  for (const file of files) if (file.isFile()) bytes += (await lstat(join(file.parentPath, file.name))).size;
  return bytes >= limits.bytes;
}

/**
 * `to`, the working directory of a task that is over, made again what copyTree(from, to)
 * makes, keeping what it can: each file of the tree is written again where it is
 * (truncated, copied, given its mode and times) and keeps its inode; what the task added
 * goes; what it removed, replaced, linked elsewhere or gave away is copied anew. A file with
 * another name besides (a hard link) is never written through. On ext4 without a journal
 * (this project's 2-core machines), a new inode is looked for past every inode freed in the
 * last half minute: a copy made and removed per task costs there more than the rest of
 * the agent's work. The task's processes are all gone by now: nothing changes under it.
 */
export function refreshTree(from: string, to: string): void {
  const source = lstatSync(from);
  const target = attempt(() => lstatSync(to));
  const ours = target !== undefined && (process.getuid === undefined || target.uid === process.getuid());
  if (source.isDirectory() && ours && target.isDirectory()) {
    chmodSync(to, 0o700);
    const entries = readdirSync(from);
    const wanted = new Set(entries);
    for (const entry of readdirSync(to)) if (!wanted.has(entry)) removeTree(join(to, entry));
    for (const entry of entries) refreshTree(join(from, entry), join(to, entry));
    chmodSync(to, source.mode & 0o7777);
    utimesSync(to, source.atimeMs / 1000, source.mtimeMs / 1000);
  } else if (source.isFile() && ours && target.isFile() && target.nlink === 1) {
    // Most files of a task's directory are as they came: reading them costs less than writing them.
    if (target.size !== source.size || !sameContent(from, to, source.size)) {
      chmodSync(to, 0o600);
      // Into the file that is there: copyFile truncates it and gives it the source's mode.
      copyFileSync(from, to, constants.COPYFILE_FICLONE);
    } else if ((target.mode & 0o7777) !== (source.mode & 0o7777)) {
      chmodSync(to, source.mode & 0o7777);
    }
    utimesSync(to, source.atimeMs / 1000, source.mtimeMs / 1000);
  } else {
    if (target) removeTree(to);
    copyTree(from, to);
  }
}

/** Whether two files of `size` bytes hold the same bytes; false also when one cannot be read (a mode the task took away). */
function sameContent(a: string, b: string, size: number): boolean {
  let fdA: number | undefined;
  let fdB: number | undefined;
  try {
    fdA = openSync(a, 'r');
    fdB = openSync(b, 'r');
    const chunk = Math.min(Math.max(size, 1), 1024 * 1024);
    const bufferA = Buffer.allocUnsafe(chunk);
    const bufferB = Buffer.allocUnsafe(chunk);
    for (let offset = 0; offset < size;) {
      const readA = readSync(fdA, bufferA, 0, chunk, offset);
      const readB = readSync(fdB, bufferB, 0, chunk, offset);
      if (readA === 0 || readA !== readB || !bufferA.subarray(0, readA).equals(bufferB.subarray(0, readB))) return false;
      offset += readA;
    }
    return true;
  } catch {
    return false;
  } finally {
    if (fdA !== undefined) closeSync(fdA);
    if (fdB !== undefined) closeSync(fdB);
  }
}

/**
 * `from` copied to `to` (which must not exist) as fs.cp copies with preserveTimestamps and
 * verbatimSymlinks, in a fraction of its time: each file by copyFile with COPYFILE_FICLONE,
 * which clones where the filesystem can (btrfs, xfs) and copies in the kernel elsewhere,
 * one after another in the agent's own thread (see TreeMethod). Directories take their
 * mode and times once their entries are in; times are kept to the microsecond (fs.cp
 * rounds them to the millisecond). A tree holds files, directories and links only (the archive check refuses the rest); a
 * hard link is copied as a file of its own, as fs.cp does.
 */
export function copyTree(from: string, to: string): void {
  const info = lstatSync(from);
  if (info.isSymbolicLink()) {
    symlinkSync(readlinkSync(from), to);
  } else if (info.isFile()) {
    copyFileSync(from, to, constants.COPYFILE_FICLONE | constants.COPYFILE_EXCL);
    utimesSync(to, info.atimeMs / 1000, info.mtimeMs / 1000);
  } else if (info.isDirectory()) {
    mkdirSync(to, { mode: 0o700 });
    for (const entry of readdirSync(from)) copyTree(join(from, entry), join(to, entry));
    chmodSync(to, info.mode & 0o7777);
    utimesSync(to, info.atimeMs / 1000, info.mtimeMs / 1000);
  } else {
    throw new Error(`${from} is neither a file, a directory nor a link`);
  }
}

