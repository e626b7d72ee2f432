import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScriptExecutor } from '../../src/agent/agent.ts';
import { commandCoordinatorOptions } from '../../src/cli/local-state.ts';
import { SourceCache } from '../../src/agent/source-cache.ts';
import { expandTasks } from '../../src/pipeline/expand.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { createApp } from '../../src/api/app.ts';
import type { Coordinator } from '../../src/coordinator/coordinator.ts';
import { defaultArchiveLimits } from '../../src/archive/check.ts';
import { sourceTree, storeSource } from '../../src/coordinator/source-archive.ts';
import type { Store } from '../../src/store/store.ts';
import { createToken } from '../../src/store/tokens.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { tarGz, type TarEntry } from '../helpers/tar.ts';
import { tempDir } from '../helpers/temp.ts';
import { createHash } from 'node:crypto';

/**
 * An uploaded source archive is someone else's bytes, unpacked on the coordinator (to read
 * the pipeline) and on every worker. Whatever its members are named or point at, nothing
 * is written outside the directory it is unpacked in: the archive is refused first.
 */

const PIPELINE = 'name: x\nactivities: {b: {}}\nsteps: {a: {run: make}}\n';
const CANARY = 'canary: must never change\n';

/** Every path under `root` (links not followed), with a file's content or a link's target. */
function snapshot(root: string): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const stats = lstatSync(path);
      if (stats.isSymbolicLink()) found.set(relative(root, path), `-> ${readlinkSync(path)}`);
      else if (stats.isDirectory()) { found.set(relative(root, path), 'dir'); walk(path); }
      else found.set(relative(root, path), stats.isFile() ? readFileSync(path, 'latin1') : 'special');
    }
  };
  walk(root);
  return found;
}

describe('uploaded source archives', () => {
  const dir = tempDir('slipway-archives-');
  const state = join(dir.path, 'state');
  const outside = join(dir.path, 'outside');
  /** A name unique to this test run, for members aimed at the shared temporary directory. */
  const marker = `slipway-evil-${process.pid}-${Date.now()}`;
  let store: Store;
  let coordinator: Coordinator;
  let app: ReturnType<typeof createApp>;
  let token: string;

  beforeAll(async () => {
    mkdirSync(outside);
    writeFileSync(join(outside, 'canary'), CANARY);
    ({ store, coordinator } = await testCoordinator(state));
    // Where an upload waits for its check, there before the snapshots: only what is stored in it counts.
    mkdirSync(join((await coordinator.sources()).dir, 'incoming'), { recursive: true });
    app = createApp(coordinator, store.db);
    token = (await createToken(store.db, 'submitter', ['submit'], Date.now())).secret;
  });

  afterAll(async () => {
    await coordinator.close();
    await store.close();
    dir.remove();
  });

  // The unpacking directory is state/sources/trees/<digest>.<id>: four levels below dir.
  const up = '../../../../';
  const deep = `${'../'.repeat(20)}${tmpdir().slice(1)}/${marker}`;
  const hostile: [what: string, entries: TarEntry[], refusal: RegExp][] = [
    ['a member named ../', [{ type: 'file', name: `${up}outside/dotdot`, data: 'evil' }], /leads outside the tree/],
    ['a member climbing to the temporary directory', [{ type: 'file', name: deep, data: 'evil' }], /leads outside the tree/],
    ['a member with .. in the middle', [{ type: 'dir', name: 'a/' }, { type: 'file', name: `a/${up}../outside/mid`, data: 'evil' }], /leads outside/],
    ['an absolute member', [{ type: 'file', name: `${outside}/absolute`, data: 'evil' }], /is an absolute path/],
    ['an absolute member in the temporary directory', [{ type: 'file', name: `${tmpdir()}/${marker}`, data: 'evil' }], /is an absolute path/],
    ['a member written through an absolute link', [
      { type: 'symlink', name: 'link', target: outside }, { type: 'file', name: 'link/through', data: 'evil' },
    ], /would be unpacked through the link "link"/],
    ['a member written through a relative link', [
      { type: 'symlink', name: 'up', target: `${up}outside` }, { type: 'file', name: 'up/through-relative', data: 'evil' },
    ], /would be unpacked through the link "up"/],
    ['a member written through a link that differs only in case', [
      { type: 'symlink', name: 'Link', target: outside }, { type: 'file', name: 'link/case', data: 'evil' },
    ], /would be unpacked through the link "link"/],
    ['a file replacing a link to the canary', [
      { type: 'symlink', name: 'c', target: join(outside, 'canary') }, { type: 'file', name: 'c', data: 'overwritten' },
    ], /would replace the link "c"/],
    ['a directory replacing a link', [
      { type: 'symlink', name: 'd', target: outside }, { type: 'dir', name: 'd/' }, { type: 'file', name: 'd/x', data: 'evil' },
    ], /would replace the link "d"/],
    ['a hard link to an absolute path, then written', [
      { type: 'hardlink', name: 'h', target: join(outside, 'canary') }, { type: 'file', name: 'h', data: 'overwritten' },
    ], /hard link target .* is an absolute path/],
    ['a hard link out of the tree', [{ type: 'hardlink', name: 'h', target: `${up}outside/canary` }], /hard link target .* leads outside/],
    ['a hard link to a link', [
      { type: 'symlink', name: 's', target: join(outside, 'canary') }, { type: 'hardlink', name: 'h', target: 's' },
    ], /not an earlier file of the archive/],
    ['a hard link to a file not in the archive', [{ type: 'hardlink', name: 'h', target: 'etc/passwd' }], /not an earlier file/],
    ['a character device', [{ type: 'chardev', name: 'mem' }], /is a character device/],
    ['a FIFO', [{ type: 'fifo', name: 'pipe' }], /is a FIFO/],
    // GNU tar reads no data after these headers: what they declare as data is its next header.
    ['a directory whose declared data hides a device', [{ type: 'dir', name: 'd/', size: 512 }, { type: 'chardev', name: 'mem' }],
      /member "d\/" is a directory that declares 512 bytes of data; GNU tar reads no data for a directory/],
    ['a symbolic link whose declared data hides a FIFO', [{ type: 'symlink', name: 's', target: 'x', size: 512 }, { type: 'fifo', name: 'pipe' }],
      /member "s" is a symbolic link that declares 512 bytes/],
    ['a hard link whose pax size hides a FIFO', [
      { type: 'file', name: 'f', data: 'f' }, { type: 'pax', records: { size: '512' } }, { type: 'hardlink', name: 'h', target: 'f' }, { type: 'fifo', name: 'pipe' },
    ], /member "h" is a hard link that declares 512 bytes/],
    // tar reads a hard link's size field as 0: the check walks on as tar does, into the FIFO.
    ['a hard link whose declared data hides a FIFO', [
      { type: 'file', name: 'f', data: 'f' }, { type: 'hardlink', name: 'h', target: 'f', size: 512 }, { type: 'fifo', name: 'pipe' },
    ], /member "pipe" is a FIFO/],
    ['a file named as a directory, whose data hides a FIFO', [{ type: 'file', name: 'slash/', size: 512 }, { type: 'fifo', name: 'pipe' }],
      /member "slash\/" is a directory that declares 512 bytes/],
    ['a global pax header that sets every size', [
      { type: 'pax', global: true, records: { size: '0' } }, { type: 'file', name: 'f', size: 512 }, { type: 'fifo', name: 'pipe' },
    ], /a global pax header sets size/],
    ['a pax name replaced by a later pax header', [
      { type: 'pax', records: { path: 'harmless' } }, { type: 'pax', records: { mtime: '1' } }, { type: 'file', name: `${up}outside/second-pax`, data: 'evil' },
    ], /member ".*second-pax" leads outside the tree/],
    ['a pax name behind a blank', [{ type: 'pax', records: { ' path': `${up}outside/blank` } }, { type: 'file', name: 'ok' }], /a pax header is malformed/],
    ['a sparse file that renames itself', [
      { type: 'pax', records: { 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.name': `${up}outside/sparse`, 'GNU.sparse.realsize': '1' } },
      { type: 'file', name: 'GNUSparseFile.0/sparse', data: 'x' },
    ], /sparse file/],
  ];

  function submit(digest: string, file = 'slipway.yml'): Promise<Response> {
    return Promise.resolve(app.request('/api/v1/runs', {
      method: 'POST', body: JSON.stringify({ source: digest, file }),
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    }));
  }

  /** Nothing changed under the test's directory but the store's own files, nor outside it. */
  function expectUnchanged(before: Map<string, string>, stored: string[] = []): void {
    const after = snapshot(dir.path);
    expect([...after.keys()].filter((path) => !before.has(path))).toEqual(stored);
    for (const [path, content] of before) if (!path.startsWith('state/db')) expect(after.get(path), path).toBe(content);
    expect(readFileSync(join(outside, 'canary'), 'utf8')).toBe(CANARY);
    expect(readdirSync(tmpdir()).filter((name) => name.includes(marker))).toEqual([]);
  }

  it.each(hostile)('refuses %s at upload: nothing is stored, unpacked or changed', async (_, entries, refusal) => {
    const before = snapshot(dir.path);
    const bytes = tarGz([{ type: 'file', name: 'slipway.yml', data: PIPELINE }, ...entries]);
    const response = await app.request('/api/v1/sources', { method: 'POST', body: bytes, headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: string };
    expect(error).toContain('the source archive is refused: ');
    expect(error).toMatch(refusal);
    expectUnchanged(before);
  });

  it('refuses a run from an archive stored before it was checked, unpacking nothing', async () => {
    const [, entries, refusal] = hostile.find(([what]) => what.startsWith('a directory whose declared data'))!;
    const bytes = tarGz([{ type: 'file', name: 'slipway.yml', data: PIPELINE }, ...entries]);
    const digest = createHash('sha256').update(bytes).digest('hex');
    // As an earlier version of the server kept every upload.
    await coordinator.artifacts.blobs.put(new Response(bytes).body!, 1 << 20, 'an unchecked archive');
    const before = snapshot(dir.path);
    const response = await submit(digest);
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: string };
    expect(error).toContain(`the source archive ${digest} is refused: `);
    expect(error).toMatch(refusal);
    expectUnchanged(before);
  });

  it('refuses the same archives on a worker, which unpacks nothing either', async () => {
    const machine = join(dir.path, 'worker');
    const cache = new SourceCache(machine);
    for (const [what, entries, refusal] of hostile) {
      const bytes = tarGz(entries);
      const digest = createHash('sha256').update(bytes).digest('hex');
      await expect(cache.ensure(digest, async () => new Response(bytes), defaultArchiveLimits), what).rejects.toThrow(refusal);
      expect(readdirSync(join(machine, 'sources')), what).toEqual([]);
    }
    expect(readFileSync(join(outside, 'canary'), 'utf8')).toBe(CANARY);
    expect(readdirSync(outside)).toEqual(['canary']);
    expect(readdirSync(tmpdir()).filter((name) => name.includes(marker))).toEqual([]);
  });

  it('on a worker, holds the archive to the limits its coordinator sends', async () => {
    const limited = await testCoordinator(join(dir.path, 'limited'), { settings: { archiveLimits: { maxUnpackedBytes: 1 << 20, maxMembers: 3 } } });
    try {
      for (const name of ['a', 'b', 'c']) writeFileSync(join(limited.sourceDir, name), name);
      const pipeline = pipelineOf([{ name: 'build' }], { sourceDir: limited.sourceDir });
      const { joinToken } = await limited.coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: true });
      const joined = await limited.coordinator.register(joinToken, { activity: 'builder' });
      if (joined.kind !== 'registered') throw new Error('the worker did not register');
      const archive = Buffer.concat(await (await limited.coordinator.artifacts.blobs.read(joined.settings!.source_digest!)).toArray());
      // The packed tree is '.', README, a, b and c: five members.
      const machine = join(dir.path, 'worker-limited');
      await expect(new ScriptExecutor(machine).prepare(joined.settings!, async () => new Response(archive)))
        .rejects.toThrow('the source archive has more than 3 members, the limit [server] max_archive_members sets');
      expect(readdirSync(join(machine, 'sources'))).toEqual([]);
      // The same archive under the default limits is unpacked.
      await new ScriptExecutor(machine).prepare({ ...joined.settings!, source_limits: undefined }, async () => new Response(archive));
      expect(readdirSync(join(machine, 'sources'))).toEqual([joined.settings!.source_digest]);
    } finally {
      await limited.coordinator.close();
      await limited.store.close();
    }
  });

  it('gives slipway run the [server] limits of the config, which its workers then hold its tree to', async () => {
    const config = join(dir.path, 'limits.toml');
    writeFileSync(config, '[server]\nmax_unpacked_bytes = 1000\nmax_archive_members = 3\n');
    const saved = process.env.SLIPWAY_CONFIG;
    process.env.SLIPWAY_CONFIG = config;
    try {
      expect((await commandCoordinatorOptions(join(dir.path, 'run.db'))).settings.archiveLimits).toEqual({ maxUnpackedBytes: 1000, maxMembers: 3 });
    } finally {
      if (saved === undefined) delete process.env.SLIPWAY_CONFIG;
      else process.env.SLIPWAY_CONFIG = saved;
    }
  });

  it('unpacks links that point out of the tree as links, which nothing follows', async () => {
    // A checked-in virtualenv has links like this; they are data, not a way out.
    const bytes = tarGz([
      { type: 'file', name: 'slipway.yml', data: PIPELINE },
      { type: 'symlink', name: 'python', target: '/usr/bin/python3' },
      { type: 'symlink', name: 'escape.yml', target: join(outside, 'canary') },
      { type: 'dir', name: 'scripts/' },
      { type: 'file', name: 'scripts/build.sh', data: 'make\n', mode: 0o6755 },
      { type: 'hardlink', name: 'scripts/again.sh', target: 'scripts/build.sh' },
    ]);
    const sources = await coordinator.sources();
    const digest = await storeSource(new Response(bytes).body!, sources, 1 << 20, defaultArchiveLimits);
    const tree = await sourceTree(sources, digest, defaultArchiveLimits);
    expect(relative(state, tree)).toBe(`sources/trees/${digest}`);
    expect(readlinkSync(join(tree, 'python'))).toBe('/usr/bin/python3');
    expect(lstatSync(join(tree, 'scripts/again.sh')).ino).toBe(lstatSync(join(tree, 'scripts/build.sh')).ino);
    // No set-id bits from the uploader.
    expect(lstatSync(join(tree, 'scripts/build.sh')).mode & 0o6000).toBe(0);

    // The pipeline file as such a link is refused, without reading the canary.
    const response = await submit(digest, 'escape.yml');
    expect(response.status).toBe(400);
    expect(await response.text()).not.toContain('canary');
  });

  it('on a worker, keeps only an archive whose bytes hash to the digest it was asked for', async () => {
    const machine = join(dir.path, 'worker-digest');
    const cache = new SourceCache(machine);
    const bytes = tarGz([{ type: 'file', name: 'a.txt', data: 'a' }]);
    const digest = createHash('sha256').update(bytes).digest('hex');
    const other = tarGz([{ type: 'file', name: 'b.txt', data: 'b' }]);
    await expect(cache.ensure(digest, async () => new Response(other), defaultArchiveLimits)).rejects.toThrow(/has the digest/);
    expect(readdirSync(join(machine, 'sources'))).toEqual([]);
    const tree = await cache.ensure(digest, async () => new Response(bytes), defaultArchiveLimits);
    expect(readFileSync(join(tree, 'a.txt'), 'utf8')).toBe('a');
  });

  it('on a worker, never builds a path from a digest or job name that is not one', async () => {
    const machine = join(dir.path, 'worker-names');
    const cache = new SourceCache(machine);
    const never = async (): Promise<Response> => { throw new Error('downloaded'); };
    for (const digest of ['../../outside', `${'0'.repeat(63)}/`, '/etc', 'A'.repeat(64), `${'0'.repeat(64)}\0`]) {
      await expect(cache.ensure(digest, never, defaultArchiveLimits)).rejects.toThrow(/not a source digest/);
    }
    for (const name of ['../outside', '../../x', '/tmp/x', '.', '..', '', 'a/b', '-rf', 'x'.repeat(200), 'a\0b']) {
      await expect(cache.workdir(null, name)).rejects.toThrow(/not a job name/);
    }
    expect(readdirSync(outside)).toEqual(['canary']);
    expect(await cache.workdir(null, 'a-0123456789ab')).toBe(join(machine, 'work', 'a-0123456789ab'));
  });
});
