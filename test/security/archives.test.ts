import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SourceCache } from '../../src/agent/source-cache.ts';
import { createApp } from '../../src/api/app.ts';
import type { Coordinator } from '../../src/coordinator/coordinator.ts';
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
    mkdirSync(coordinator.archivesDir, { recursive: true });
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
  ];

  async function upload(bytes: Buffer): Promise<string> {
    const response = await app.request('/api/v1/sources', { method: 'POST', body: bytes, headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(201);
    return ((await response.json()) as { digest: string }).digest;
  }

  it.each(hostile)('refuses %s before unpacking anything, and nothing outside changes', async (_, entries, refusal) => {
    const before = snapshot(dir.path);
    const digest = await upload(tarGz([{ type: 'file', name: 'slipway.yml', data: PIPELINE }, ...entries]));
    const response = await app.request('/api/v1/runs', {
      method: 'POST', body: JSON.stringify({ source: digest, file: 'slipway.yml' }),
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    });
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: string };
    expect(error).toContain(`the source archive ${digest} is refused: `);
    expect(error).toMatch(refusal);

    // The only change anywhere under the test's directory is the stored upload itself.
    const after = snapshot(dir.path);
    const added = [...after.keys()].filter((path) => !before.has(path));
    expect(added).toEqual([`state/sources/${digest}.tar.gz`]);
    // The store's own files change as it pleases; everything else must be as it was.
    for (const [path, content] of before) if (!path.startsWith('state/db')) expect(after.get(path), path).toBe(content);
    expect(readFileSync(join(outside, 'canary'), 'utf8')).toBe(CANARY);
    expect(readdirSync(tmpdir()).filter((name) => name.includes(marker))).toEqual([]);
  });

  it('refuses the same archives on a worker, which unpacks nothing either', async () => {
    const machine = join(dir.path, 'worker');
    const cache = new SourceCache(machine);
    for (const [what, entries, refusal] of hostile) {
      const bytes = tarGz(entries);
      const digest = createHash('sha256').update(bytes).digest('hex');
      await expect(cache.ensure(digest, async () => new Response(bytes)), what).rejects.toThrow(refusal);
      expect(readdirSync(join(machine, 'sources')), what).toEqual([]);
    }
    expect(readFileSync(join(outside, 'canary'), 'utf8')).toBe(CANARY);
    expect(readdirSync(outside)).toEqual(['canary']);
    expect(readdirSync(tmpdir()).filter((name) => name.includes(marker))).toEqual([]);
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
    const digest = await storeSource(new Response(bytes).body!, coordinator.archivesDir, 1 << 20);
    const tree = await sourceTree(coordinator.archivesDir, digest);
    expect(relative(state, tree)).toBe(`sources/trees/${digest}`);
    expect(readlinkSync(join(tree, 'python'))).toBe('/usr/bin/python3');
    expect(lstatSync(join(tree, 'scripts/again.sh')).ino).toBe(lstatSync(join(tree, 'scripts/build.sh')).ino);
    // No set-id bits from the uploader.
    expect(lstatSync(join(tree, 'scripts/build.sh')).mode & 0o6000).toBe(0);

    // The pipeline file as such a link is refused, without reading the canary.
    const response = await app.request('/api/v1/runs', {
      method: 'POST', body: JSON.stringify({ source: digest, file: 'escape.yml' }),
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    });
    expect(response.status).toBe(400);
    expect(await response.text()).not.toContain('canary');
  });

  it('on a worker, keeps only an archive whose bytes hash to the digest it was asked for', async () => {
    const machine = join(dir.path, 'worker-digest');
    const cache = new SourceCache(machine);
    const bytes = tarGz([{ type: 'file', name: 'a.txt', data: 'a' }]);
    const digest = createHash('sha256').update(bytes).digest('hex');
    const other = tarGz([{ type: 'file', name: 'b.txt', data: 'b' }]);
    await expect(cache.ensure(digest, async () => new Response(other))).rejects.toThrow(/has the digest/);
    expect(readdirSync(join(machine, 'sources'))).toEqual([]);
    const tree = await cache.ensure(digest, async () => new Response(bytes));
    expect(readFileSync(join(tree, 'a.txt'), 'utf8')).toBe('a');
  });

  it('on a worker, never builds a path from a digest or job name that is not one', async () => {
    const machine = join(dir.path, 'worker-names');
    const cache = new SourceCache(machine);
    const never = async (): Promise<Response> => { throw new Error('downloaded'); };
    for (const digest of ['../../outside', `${'0'.repeat(63)}/`, '/etc', 'A'.repeat(64), `${'0'.repeat(64)}\0`]) {
      await expect(cache.ensure(digest, never)).rejects.toThrow(/not a source digest/);
    }
    for (const name of ['../outside', '../../x', '/tmp/x', '.', '..', '', 'a/b', '-rf', 'x'.repeat(200), 'a\0b']) {
      await expect(cache.workdir(null, name)).rejects.toThrow(/not a job name/);
    }
    expect(readdirSync(outside)).toEqual(['canary']);
    expect(await cache.workdir(null, 'a-0123456789ab')).toBe(join(machine, 'work', 'a-0123456789ab'));
  });
});
