import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { copyTree, SourceCache, type SourceCacheOptions } from '../../src/agent/source-cache.ts';
import { mountPointsUnder, unmountUnder } from '../../src/util/mounts.ts';
import { localPurger } from '../../src/providers/local-purge.ts';
import { removeFileScript } from '../../src/providers/ssh/remote-scripts.ts';
import { tempDir } from '../helpers/temp.ts';

const sourceCache = new URL('../../src/agent/source-cache.ts', import.meta.url).pathname;
const isRoot = process.getuid?.() === 0;
const mountinfo = () => readFileSync('/proc/self/mountinfo', 'utf8');
/** Whether this process may mount an overlay here: root, and a kernel and container that let it. */
const canMount = isRoot && process.platform === 'linux' && (() => {
  const probe = tempDir('slipway-overlay-probe-');
  try {
    for (const sub of ['l', 'u', 'w', 'm']) mkdirSync(join(probe.path, sub));
    const mounted = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', 'lowerdir=l,upperdir=u,workdir=w', join(probe.path, 'm')], { cwd: probe.path }).status === 0;
    if (mounted) spawnSync('umount', [join(probe.path, 'm')]);
    return mounted;
  } finally {
    probe.remove();
  }
})();

/** A tree with what a source tree holds: nested files, modes, times, links, a hard link, a read-only directory. */
function makeTree(tree: string): void {
  mkdirSync(join(tree, 'src', 'deep'), { recursive: true });
  writeFileSync(join(tree, 'README'), 'readme\n');
  writeFileSync(join(tree, 'src', 'main.c'), 'int main() { return 0; }\n');
  writeFileSync(join(tree, 'src', 'deep', 'data.bin'), Buffer.alloc(300_000, 7));
  writeFileSync(join(tree, 'build.sh'), '#!/bin/sh\necho built\n', { mode: 0o755 });
  writeFileSync(join(tree, 'locked'), 'read only\n', { mode: 0o444 });
  symlinkSync('src/main.c', join(tree, 'main-link'));
  symlinkSync('/nonexistent/outside', join(tree, 'dangling'));
  mkdirSync(join(tree, 'frozen'));
  writeFileSync(join(tree, 'frozen', 'inside'), 'frozen\n');
  chmodSync(join(tree, 'frozen'), 0o555);
  // Times as an archive gives them: whole seconds, the same wherever the test runs.
  const past = new Date('2020-01-02T03:04:05Z');
  const later = new Date('2024-05-06T07:08:09Z');
  for (const entry of ['README', 'src/main.c', 'src/deep/data.bin', 'build.sh', 'locked', 'frozen/inside', 'src/deep', 'src', 'frozen', '.']) {
    utimesSync(join(tree, entry), entry === 'src/main.c' || entry === 'src/deep' ? past : later, entry === 'src/main.c' || entry === 'src/deep' ? past : later);
  }
}

/** Every entry of a tree with its type, mode, mtime (whole ms), size and content or link target. */
function listing(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const path = join(dir, rel, name);
      const stat = lstatSync(path);
      const key = join(rel, name);
      if (stat.isSymbolicLink()) out[key] = `link ${readlinkSync(path)}`;
      else if (stat.isDirectory()) {
        out[key] = `dir ${(stat.mode & 0o7777).toString(8)} ${Math.floor(stat.mtimeMs)}`;
        walk(key);
      } else out[key] = `file ${(stat.mode & 0o7777).toString(8)} ${Math.floor(stat.mtimeMs)} ${stat.size} ${readFileSync(path).subarray(0, 64).toString('hex')}`;
    }
  };
  walk('');
  return out;
}

/** What a task does to its directory: writes, overwrites, appends, deletes, renames a directory of the tree, changes a mode. */
function vandalize(dir: string): void {
  writeFileSync(join(dir, 'README'), 'overwritten by the task\n');
  writeFileSync(join(dir, 'src', 'main.c'), 'appended\n', { flag: 'a' });
  writeFileSync(join(dir, 'new-file'), 'new\n');
  rmSync(join(dir, 'build.sh'));
  rmSync(join(dir, 'src', 'deep'), { recursive: true });
  renameSync(join(dir, 'src'), join(dir, 'src-renamed'));
  chmodSync(join(dir, 'locked'), 0o666);
  writeFileSync(join(dir, 'locked'), 'not locked any more\n');
  rmSync(join(dir, 'main-link'));
}

/** What this test leaves under `root` once every working directory is discarded: mounts and directories. */
function leftovers(root: string): { mounts: string[]; work: string[]; layers: string[] } {
  const list = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);
  return { mounts: mountPointsUnder(mountinfo(), root), work: list(join(root, 'work')), layers: list(join(root, 'layers')) };
}

describe('the working directory each task gets from the source cache', () => {
  const dir = tempDir();
  const tree = join(dir.path, 'tree');
  makeTree(tree);
  const pristine = listing(tree);
  afterAll(async () => {
    await unmountUnder(dir.path);
    spawnSync('chmod', ['-R', 'u+w', dir.path]);
    dir.remove();
  });

  /** Two tasks, one after the other and one beside it: neither sees the other's writes, the cache never does. */
  async function isolation(cache: SourceCache, root: string): Promise<void> {
    const first = await cache.workdir(tree, 'a-first');
    const beside = await cache.workdir(tree, 'a-beside');
    expect(listing(first)).toEqual(pristine);
    vandalize(first);
    expect(readFileSync(join(first, 'README'), 'utf8')).toBe('overwritten by the task\n');
    expect(existsSync(join(first, 'src-renamed', 'main.c'))).toBe(true);
    expect(listing(tree)).toEqual(pristine);
    expect(listing(beside)).toEqual(pristine);
    await cache.discard(first);
    // What the agent does while it reports a task's end: a copy for the next, then taken by it.
    const copied = (await cache.methodFor(tree)) === 'copy';
    await cache.copyAhead(tree);
    const aheadOf = () => readdirSync(join(root, 'work')).filter((name) => name.startsWith('.ahead-'));
    expect(aheadOf()).toHaveLength(copied ? 1 : 0);
    const next = await cache.workdir(tree, 'a-next');
    expect(aheadOf()).toEqual([]);
    expect(listing(next)).toEqual(pristine);
    // The same name again (init, cleanup) starts clean too.
    vandalize(beside);
    await cache.discard(beside);
    const again = await cache.workdir(tree, 'a-beside');
    expect(listing(again)).toEqual(pristine);
    await cache.discard(again);
    await cache.discard(next);
    await cache.copyAhead(tree);
    cache.dropCopyAhead();
    expect(leftovers(root)).toEqual({ mounts: [], work: [], layers: [] });
    expect(listing(tree)).toEqual(pristine);
  }

  it('copies the tree as fs.cp did: modes, times, links as links, read-only directories', () => {
    const copy = join(dir.path, 'copy');
    copyTree(tree, copy);
    expect(listing(copy)).toEqual(pristine);
    expect(statSync(join(copy, 'README')).ino).not.toBe(statSync(join(tree, 'README')).ino);
    chmodSync(join(copy, 'frozen'), 0o755);
    rmSync(copy, { recursive: true });
  });

  it('gives a copy, fresh for each task, when overlays are not to be used', async () => {
    const root = join(dir.path, 'copies');
    const cache = new SourceCache(root, { overlay: false, overlayMinFiles: 0 });
    expect(await cache.methodFor(tree)).toBe('copy');
    await isolation(cache, root);
  });

  it('copies a small tree even where it could mount, without trying to', async () => {
    const root = join(dir.path, 'small');
    const cache = new SourceCache(root);
    expect(await cache.methodFor(tree)).toBe('copy');
    expect(existsSync(join(root, 'layers'))).toBe(false);
    await isolation(cache, root);
  });

  it("makes a task's directory the next task's copy in place, keeping its files' inodes, never writing through what the task linked", async () => {
    const root = join(dir.path, 'refreshed');
    const cache = new SourceCache(root, { overlay: false });
    const work = await cache.workdir(tree, 'a-used');
    const lockedInode = statSync(join(work, 'locked')).ino;
    vandalize(work);
    // Beyond what vandalize does: names that lead out of the directory, and what the task may not have meant to leave.
    const outside = join(dir.path, 'refresh-outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'inside'), 'precious\n');
    linkSync(join(work, 'src-renamed', 'main.c'), join(outside, 'main.c'));
    mkdirSync(join(work, 'src'));
    linkSync(join(outside, 'main.c'), join(work, 'src', 'main.c'));
    symlinkSync(outside, join(work, 'src', 'deep'));
    chmodSync(join(work, 'frozen'), 0o755);
    rmSync(join(work, 'frozen'), { recursive: true });
    symlinkSync(outside, join(work, 'frozen'));
    mkdirSync(join(work, 'README.d', 'sub'), { recursive: true });
    renameSync(join(work, 'README'), join(work, 'README.d', 'sub', 'moved'));
    mkdirSync(join(work, 'README'));
    mkdirSync(join(work, 'made', 'sub'), { recursive: true });
    writeFileSync(join(work, 'made', 'sub', 'file'), 'made\n', { mode: 0o400 });
    chmodSync(join(work, 'made', 'sub'), 0o500);
    // The same size and other bytes, unreadable; the same bytes and another mode.
    writeFileSync(join(work, 'locked'), 'READ ONLY\n');
    chmodSync(join(work, 'locked'), 0o000);
    writeFileSync(join(work, 'build.sh'), '#!/bin/sh\necho built\n', { mode: 0o600 });

    await cache.discard(work, tree);
    const next = await cache.workdir(tree, 'a-next');
    expect(listing(next)).toEqual(pristine);
    expect(listing(tree)).toEqual(pristine);
    // The file the task wrote in place is the same file, written again.
    expect(statSync(join(next, 'locked')).ino).toBe(lockedInode);
    // Nothing outside was written through a link.
    expect(readFileSync(join(outside, 'inside'), 'utf8')).toBe('precious\n');
    expect(readFileSync(join(outside, 'main.c'), 'utf8')).toBe('int main() { return 0; }\nappended\n');
    expect(statSync(join(next, 'src', 'main.c')).ino).not.toBe(statSync(join(outside, 'main.c')).ino);
    await cache.discard(next, tree);
    cache.dropCopyAhead();
    expect(leftovers(root)).toEqual({ mounts: [], work: [], layers: [] });
  });

  it('gives an empty directory when the run has no tree, and takes it away', async () => {
    const root = join(dir.path, 'empty');
    const cache = new SourceCache(root);
    const work = await cache.workdir(null, 'init');
    expect(readdirSync(work)).toEqual([]);
    writeFileSync(join(work, 'x'), 'x');
    await cache.discard(work);
    expect(leftovers(root)).toEqual({ mounts: [], work: [], layers: [] });
  });

  it('discards only working directories of its own', async () => {
    const cache = new SourceCache(join(dir.path, 'own'));
    await expect(cache.discard(tree)).rejects.toThrow(/not a working directory/);
    expect(listing(tree)).toEqual(pristine);
  });

  describe.runIf(canMount)('as root, where overlays can be mounted', () => {
    const mounted = (path: string) => mountPointsUnder(mountinfo(), path).includes(path);

    it('mounts an overlay of a big tree per task, whose writes reach neither the cache nor another task, and unmounts it on discard', async () => {
      const root = join(dir.path, 'overlays');
      const cache = new SourceCache(root, { overlayMinFiles: 5 });
      expect(await cache.methodFor(tree)).toBe('overlay');
      // Few files, but many bytes, are mounted too.
      expect(await new SourceCache(root, { overlayMinFiles: 100, overlayMinBytes: 200_000 }).methodFor(tree)).toBe('overlay');
      expect(await new SourceCache(root, { overlayMinFiles: 100, overlayMinBytes: 400_000 }).methodFor(tree)).toBe('copy');
      const work = await cache.workdir(tree, 'a-mounted');
      expect(mounted(work)).toBe(true);
      await cache.discard(work);
      expect(mounted(work)).toBe(false);
      await isolation(cache, root);
    });

    it('unmounts, before removing, what a task running as root mounted in its directory', async () => {
      for (const overlay of [true, false]) {
        const root = join(dir.path, `task-mounts-${overlay}`);
        const cache = new SourceCache(root, { overlay, overlayMinFiles: 0 });
        const work = await cache.workdir(tree, 'a-mounts');
        const precious = join(dir.path, `precious-${overlay}`);
        mkdirSync(precious);
        writeFileSync(join(precious, 'keep'), 'keep');
        mkdirSync(join(work, 'bound'));
        expect(spawnSync('mount', ['--bind', precious, join(work, 'bound')]).status).toBe(0);
        await cache.discard(work);
        expect(leftovers(root)).toEqual({ mounts: [], work: [], layers: [] });
        expect(readFileSync(join(precious, 'keep'), 'utf8')).toBe('keep');
      }
    });

    it('detaches an overlay a process still works in, and removes its directory', async () => {
      const root = join(dir.path, 'busy');
      const cache = new SourceCache(root, { overlayMinFiles: 0 });
      const work = await cache.workdir(tree, 'a-busy');
      const stayer = spawn('sleep', ['30'], { cwd: work, stdio: 'ignore' });
      try {
        await new Promise((resolve) => stayer.once('spawn', resolve));
        await cache.discard(work);
        expect(leftovers(root)).toEqual({ mounts: [], work: [], layers: [] });
      } finally {
        stayer.kill('SIGKILL');
      }
      expect(listing(tree)).toEqual(pristine);
    });

    /** Runs an agent's cache in a process of its own, which mounts a task's tree and then ends as `end` says. */
    function agentThatMounts(root: string, end: string) {
      const code = `import { SourceCache } from ${JSON.stringify(sourceCache)};
const cache = new SourceCache(${JSON.stringify(root)}, { overlayMinFiles: 0 });
const work = await cache.workdir(${JSON.stringify(tree)}, 'a-left');
process.stdout.write(work + '\\n');
${end}`;
      return spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    }

    async function mountedBy(child: ReturnType<typeof agentThatMounts>): Promise<string> {
      let out = '';
      for await (const chunk of child.stdout!) {
        out += String(chunk);
        if (out.includes('\n')) break;
      }
      return out.trim();
    }

    it('leaves no mount behind when the agent fails', async () => {
      const root = join(dir.path, 'failing');
      const child = agentThatMounts(root, "throw new Error('the agent failed');");
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      const work = await mountedBy(child);
      expect(work).toBe(join(root, 'work', 'a-left'));
      expect(await exited).not.toBe(0);
      expect(leftovers(root)).toEqual({ mounts: [], work: [], layers: [] });
      expect(listing(tree)).toEqual(pristine);
    });

    it('after an agent killed with its task mounted, slipway purge unmounts and removes the worker\'s directory, and the next agent there starts clean', async () => {
      const workRoot = join(dir.path, 'workers');
      const worker = join(workRoot, 'w-0123abcd');
      const child = agentThatMounts(worker, 'setInterval(() => undefined, 1000);');
      const work = await mountedBy(child);
      writeFileSync(join(work, 'written-by-the-task'), 'x');
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      expect(mounted(work)).toBe(true);

      // The next agent in the same directory (a hand-started worker, say) takes the name over.
      const next = new SourceCache(worker, { overlayMinFiles: 0 });
      const fresh = await next.workdir(tree, 'a-left');
      expect(listing(fresh)).toEqual(pristine);
      expect(mountPointsUnder(mountinfo(), worker)).toEqual([fresh]);

      // Killed again: purge finds the directory and removes it, mounts and all.
      const purger = localPurger([workRoot]);
      const { found } = await purger.find();
      const dirs = found.filter((f) => f.kind === 'work-dir');
      expect(dirs.map((f) => f.id)).toEqual(['w-0123abcd']);
      expect(await purger.remove(dirs)).toEqual([{ resource: dirs[0], error: '' }]);
      expect(mountPointsUnder(mountinfo(), workRoot)).toEqual([]);
      expect(readdirSync(workRoot)).toEqual([]);
      expect(listing(tree)).toEqual(pristine);
    });

    it('unmounts on discard where the work directory is reached through a symbolic link', async () => {
      mkdirSync(join(dir.path, 'real-root'));
      symlinkSync(join(dir.path, 'real-root'), join(dir.path, 'linked-root'));
      const cache = new SourceCache(join(dir.path, 'linked-root'), { overlayMinFiles: 0 });
      const work = await cache.workdir(tree, 'a-linked');
      expect(mountPointsUnder(mountinfo(), join(dir.path, 'real-root'))).toEqual([join(dir.path, 'real-root', 'work', 'a-linked')]);
      await cache.discard(work);
      expect(leftovers(join(dir.path, 'real-root'))).toEqual({ mounts: [], work: [], layers: [] });
    });

    it('on an ssh host, removing a worker\'s directory unmounts what a killed agent left there first', async () => {
      // The host's work_dir reached through a link, as a home directory may be.
      mkdirSync(join(dir.path, 'real-host'));
      symlinkSync(join(dir.path, 'real-host'), join(dir.path, 'host'));
      const host = join(dir.path, 'host');
      const worker = join(host, 'w-89abcdef');
      const cache = new SourceCache(worker, { overlayMinFiles: 0 });
      await cache.workdir(tree, 'a-one');
      await cache.workdir(tree, 'a-two');
      expect(mountPointsUnder(mountinfo(), worker)).toHaveLength(2);
      const script = removeFileScript(host, { kind: 'dir', workerId: 'w-89abcdef' });
      const removed = spawnSync('sh', ['-s'], { input: script, encoding: 'utf8' });
      expect(removed.status, removed.stderr).toBe(0);
      expect(mountPointsUnder(mountinfo(), host)).toEqual([]);
      expect(readdirSync(host)).toEqual([]);
    });
  });

  describe.runIf(isRoot)('run by an agent that may not mount, as a root server\'s workers are', () => {
    it('falls back to copies, silently, and they are as isolated', async () => {
      const root = join(dir.path, 'unprivileged');
      mkdirSync(root);
      const uid = 0x5c000001;
      chownSync(root, uid, uid);
      // The worker can reach its directory and read the tree, as it reads the tree it unpacked.
      chmodSync(dir.path, 0o711);
      const options: SourceCacheOptions = { overlayMinFiles: 0 };
      const code = `import { SourceCache } from ${JSON.stringify(sourceCache)};
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
const cache = new SourceCache(${JSON.stringify(root)}, ${JSON.stringify(options)});
const tree = ${JSON.stringify(tree)};
const method = await cache.methodFor(tree);
const first = await cache.workdir(tree, 'a-first');
writeFileSync(first + '/README', 'changed');
const mounted = readFileSync('/proc/self/mountinfo', 'utf8').includes(${JSON.stringify(root)});
await cache.discard(first);
const next = await cache.workdir(tree, 'a-next');
const readme = readFileSync(next + '/README', 'utf8');
await cache.discard(next);
process.stdout.write(JSON.stringify({ method, mounted, readme, work: readdirSync(${JSON.stringify(join(root, 'work'))}) }));`;
      const result = spawnSync(process.execPath, ['--input-type=module', '-e', code], { uid, gid: uid, cwd: '/', encoding: 'utf8' });
      expect(result.status, result.stderr).toBe(0);
      expect(result.stderr).toBe('');
      expect(JSON.parse(result.stdout)).toEqual({ method: 'copy', mounted: false, readme: 'readme\n', work: [] });
      expect(listing(tree)).toEqual(pristine);
      expect(leftovers(root)).toEqual({ mounts: [], work: [], layers: [] });
    });
  });
});
