/**
 * What a task's fresh copy of the source tree costs, per task, by each way this machine
 * offers: node's fs.cp (the agent's method until now), `cp -a --reflink=auto`, a tree of
 * copyFile(COPYFILE_FICLONE), the last task's directory refreshed in place (what a worker's
 * next task gets), and an overlay mount (root only); then the discard of each.
 * A big tree (default 50 MB: ~2,000 files of mixed sizes in nested directories plus one
 * big file) and a small one (a few files), since most pipelines are small.
 *
 *   node bench/source-copy.ts [--json] [--dir DIR] [--mb 50] [--files 2000] [--rounds 15] [--only fs.cp,overlay,...]
 *
 * DIR (default: a new directory under the current one) should be on the filesystem the
 * agents' work root is on: that is what decides whether reflinks are there.
 */
import { execFile } from 'node:child_process';
import { constants, readFileSync, renameSync, rmSync } from 'node:fs';
import { copyFile, cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { copyTree, refreshTree, SourceCache } from '../src/agent/source-cache.ts';
import { unmountUnder } from '../src/util/mounts.ts';

const run = promisify(execFile);

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1]! : fallback;
}
const json = process.argv.includes('--json');
const totalMb = Number(option('mb', '50'));
const fileCount = Number(option('files', '2000'));
const rounds = Number(option('rounds', '15'));
/** Methods whose names contain one of these words; all by default. */
const only = option('only', '').split(',').filter(Boolean);
const base = await mkdtemp(join(resolve(option('dir', '.')), '.source-copy-bench-'));
process.once('SIGINT', () => {
  void cleanUp().finally(() => process.exit(130));
});

/** Deterministic bytes that do not compress or dedupe to nothing. */
function bytes(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out.writeUInt32LE(x, i);
  }
  out.fill(7, size - (size % 4));
  return out;
}

/**
 * A tree like a repository's: files in directories three deep, most of them small (1-16 KB),
 * some medium (64-512 KB), one big file taking what is left of `mb`, and a few symlinks.
 */
async function makeTree(dir: string, files: number, mb: number): Promise<{ files: number; bytes: number }> {
  let total = 0;
  const budget = mb * 1024 * 1024;
  const sizes: number[] = [];
  for (let i = 0; i < files; i++) sizes.push(i % 20 === 0 ? 64 * 1024 + ((i * 7919) % (448 * 1024)) : 1024 + ((i * 104729) % (15 * 1024)));
  for (let i = 0; i < files; i++) {
    const sub = join(dir, `pkg${i % 8}`, `mod${(i >> 3) % 12}`, `d${(i >> 7) % 4}`);
    await mkdir(sub, { recursive: true });
    const size = Math.min(sizes[i]!, Math.max(0, budget - total));
    await writeFile(join(sub, `f${i}.src`), bytes(size, i));
    total += size;
  }
  if (budget > total) {
    await writeFile(join(dir, 'big.bin'), bytes(budget - total, 99));
    total = budget;
  }
  await symlink('pkg0', join(dir, 'link-to-pkg0'));
  await symlink('big.bin', join(dir, 'link-to-big'));
  return { files: files + (mb > 0 ? 1 : 0), bytes: total };
}

interface Method {
  name: string;
  make(tree: string, dir: string): Promise<void>;
  discard(dir: string): Promise<void>;
}

const rmrf = (dir: string) => rm(dir, { recursive: true, force: true, maxRetries: 3 });
const methods: Method[] = [
  { name: 'fs.cp', make: (tree, dir) => cp(tree, dir, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true }), discard: rmrf },
  { name: 'cp -a --reflink=auto', make: async (tree, dir) => { await run('cp', ['-a', '--reflink=auto', '--', tree, dir]); }, discard: rmrf },
  // The agent's copy: copyFile(COPYFILE_FICLONE), file after file in its own thread.
  { name: 'copyFile FICLONE', make: async (tree, dir) => copyTree(tree, dir), discard: rmrf },
  (() => {
    // The agent's way for a worker's next task: the last task's directory made a copy again
    // where it stands (here one no task changed, as most files of a task's tree are).
    const spares = new Map<string, string>();
    const treeOf = new Map<string, string>();
    return {
      name: 'refreshTree (next task)',
      make: async (tree: string, dir: string) => {
        treeOf.set(dir, tree);
        const spare = spares.get(tree);
        spares.delete(tree);
        if (spare === undefined) return copyTree(tree, dir);
        renameSync(spare, dir);
        refreshTree(tree, dir);
      },
      discard: async (dir: string) => {
        const tree = treeOf.get(dir)!;
        treeOf.delete(dir);
        const spare = `${tree}.spare`;
        renameSync(dir, spare);
        spares.set(tree, spare);
      },
    };
  })(),
  {
    // Mounting and unmounting as the agent does: `mount` and `umount` spawned, the same options.
    name: 'overlay mount',
    make: async (tree, dir) => {
      await mkdir(`${dir}.upper`);
      await mkdir(`${dir}.work`);
      await mkdir(dir);
      await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${tree},upperdir=${dir}.upper,workdir=${dir}.work,redirect_dir=on,volatile`, dir]);
    },
    discard: async (dir) => {
      await run('umount', [dir]);
      await Promise.all([rmrf(dir), rmrf(`${dir}.upper`), rmrf(`${dir}.work`)]);
    },
  },
];

/** Which filesystem `path` is on, from the mount table. */
function filesystemOf(path: string): string {
  let best = { point: '', type: 'unknown' };
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const fields = line.split(' ');
    const point = fields[4]?.replace(/\\040/g, ' ');
    const type = fields[fields.indexOf('-') + 1];
    if (point && type && (path === point || path.startsWith(point.endsWith('/') ? point : `${point}/`)) && point.length >= best.point.length) best = { point, type };
  }
  return `${best.type} (${best.point})`;
}

async function canClone(dir: string): Promise<boolean> {
  await writeFile(join(dir, 'probe'), 'x');
  try {
    await copyFile(join(dir, 'probe'), join(dir, 'probe-clone'), constants.COPYFILE_FICLONE_FORCE);
    return true;
  } catch {
    return false;
  }
}

async function canMountOverlay(dir: string): Promise<string> {
  if (process.getuid?.() !== 0) return 'no: not root';
  const probe = join(dir, 'overlay-probe');
  for (const sub of ['lower', 'upper', 'work', 'merged']) await mkdir(join(probe, sub), { recursive: true });
  try {
    await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${probe}/lower,upperdir=${probe}/upper,workdir=${probe}/work`, `${probe}/merged`]);
    await run('umount', [`${probe}/merged`]);
    return 'yes';
  } catch (error) {
    return `no: ${(error as Error).message.split('\n').slice(-2).join(' ').trim()}`;
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const round1 = (ms: number) => Math.round(ms * 10) / 10;

interface Figure { tree: string; method: string; make_ms: number; discard_ms: number; total_ms: number; max_total_ms: number }

/**
 * Every method once per round, in an order that turns from round to round, so a machine
 * busy with something else slows them alike; the first round only warms the page cache.
 */
async function measure(label: string, tree: string, all: Method[], count: number): Promise<Figure[]> {
  const times = all.map(() => ({ make: [] as number[], discard: [] as number[], total: [] as number[] }));
  for (let round = -1; round < count; round++) {
    for (let k = 0; k < all.length; k++) {
      const i = (k + Math.max(round, 0)) % all.length;
      const dir = join(base, 'work', `t${round + 1}-${i}`);
      const t0 = performance.now();
      await all[i]!.make(tree, dir);
      const t1 = performance.now();
      await all[i]!.discard(dir);
      const t2 = performance.now();
      if (round < 0) continue;
      times[i]!.make.push(t1 - t0);
      times[i]!.discard.push(t2 - t1);
      times[i]!.total.push(t2 - t0);
    }
  }
  return all.map((method, i) => ({
    tree: label, method: method.name, make_ms: round1(median(times[i]!.make)), discard_ms: round1(median(times[i]!.discard)),
    total_ms: round1(median(times[i]!.total)), max_total_ms: round1(Math.max(...times[i]!.total)),
  }));
}

try {
  await mkdir(join(base, 'work'));
  const bigTree = join(base, 'big');
  const smallTree = join(base, 'small');
  const big = await makeTree(bigTree, fileCount, totalMb);
  const small = await makeTree(smallTree, 5, 0);
  const overlay = await canMountOverlay(base);
  const reflink = await canClone(base);
  // What the agent uses now: SourceCache decides once per agent and per tree.
  const cache = new SourceCache(join(base, 'agent'));
  const agentDir = (dir: string) => `a-${dir.split('/').pop()!.slice(1)}`;
  const agentMethod: Method = {
    name: 'SourceCache (agent)',
    make: async (tree, dir) => { await cache.workdir(tree, agentDir(dir)); },
    discard: (dir) => cache.discard(join(base, 'agent', 'work', agentDir(dir))),
  };
  const usable = [...methods.filter((m) => m.name !== 'overlay mount' || overlay === 'yes'), agentMethod]
    .filter((m) => only.length === 0 || only.some((word) => m.name.includes(word)));
  const figures: Figure[] = [];
  for (const [label, tree, count] of [[`big (${big.files} files, ${(big.bytes / 1048576).toFixed(0)} MB)`, bigTree, rounds], ['small (5 files)', smallTree, rounds * 4]] as const) {
    figures.push(...(await measure(label, tree, usable, count)));
  }
  const machine = {
    filesystem: filesystemOf(base),
    reflink,
    overlay,
    agent_method: { big: await cache.methodFor(bigTree), small: await cache.methodFor(smallTree) },
    mounted_reflink_filesystems: readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((line) => / - (btrfs|xfs|bcachefs|zfs) /.test(line)).map((line) => line.split(' ')[4]),
  };
  if (json) {
    process.stdout.write(`${JSON.stringify({ machine, figures })}\n`);
  } else {
    console.log(`work dir on ${machine.filesystem}; reflink clones: ${reflink ? 'yes' : 'no'}; overlay mounts: ${overlay}; reflink-capable filesystems mounted: ${machine.mounted_reflink_filesystems.join(', ') || 'none'}`);
    console.log(`the agent uses: ${machine.agent_method.big} for the big tree, ${machine.agent_method.small} for the small one`);
    console.log(`per task, median of ${rounds} (big) and ${rounds * 4} (small) rounds, ms:`);
    console.log(`${'tree'.padEnd(28)} ${'method'.padEnd(22)} ${'make'.padStart(8)} ${'discard'.padStart(8)} ${'total'.padStart(8)} ${'max'.padStart(8)}`);
    for (const f of figures) console.log(`${f.tree.padEnd(28)} ${f.method.padEnd(22)} ${f.make_ms.toFixed(1).padStart(8)} ${f.discard_ms.toFixed(1).padStart(8)} ${f.total_ms.toFixed(1).padStart(8)} ${f.max_total_ms.toFixed(1).padStart(8)}`);
  }
} finally {
  await cleanUp();
}

/** Nothing is left: no mount, no directory, also after a Ctrl-C. */
async function cleanUp(): Promise<void> {
  await unmountUnder(base);
  rmSync(base, { recursive: true, force: true });
}
