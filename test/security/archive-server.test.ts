import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/cli.ts';
import { startServer } from '../helpers/server-process.ts';
import { tarGz, type TarEntry } from '../helpers/tar.ts';

/**
 * What a hostile or oversized source archive meets on a real `slipway server`: a refusal
 * at upload, with nothing stored or unpacked, and a server that goes on answering.
 */

const PIPELINE = 'name: x\nactivities: {b: {}}\nsteps: {a: {run: make}}\n';
const MAX_BYTES = 16 * 1024 * 1024;
const MAX_MEMBERS = 100;

describe('source archives uploaded to a server', () => {
  const box = new Sandbox();
  const state = join(box.state, 'slipway');
  let server: Awaited<ReturnType<typeof startServer>>;

  beforeAll(async () => {
    mkdirSync(join(box.config, 'slipway'), { recursive: true });
    writeFileSync(join(box.config, 'slipway', 'config.toml'), `[server]\nmax_unpacked_bytes = ${MAX_BYTES}\nmax_archive_members = ${MAX_MEMBERS}\n`);
    server = await startServer(box);
  });

  afterAll(async () => {
    server.server.kill('SIGTERM');
    await server.server.result;
    box.cleanup();
  });

  async function upload(bytes: Buffer): Promise<{ status: number; error?: string; digest?: string }> {
    const response = await fetch(`${server.url}/api/v1/sources`, { method: 'POST', body: bytes, headers: { authorization: `Bearer ${server.admin}` } });
    return { status: response.status, ...(await response.json()) as { error?: string; digest?: string } };
  }

  /** Every file the server keeps of uploads: stored archives (blobs), partial uploads, unpacked trees. */
  function stored(): string[] {
    return ['sources', 'blobs'].flatMap((dir) => (existsSync(join(state, dir)) ? readdirSync(join(state, dir), { recursive: true, withFileTypes: true }) : []))
      .filter((entry) => !entry.isDirectory()).map((entry) => relative(state, join(entry.parentPath, entry.name))).sort();
  }

  async function expectAnswering(): Promise<void> {
    expect((await fetch(`${server.url}/api/v1/runs`, { headers: { authorization: `Bearer ${server.admin}` } })).status).toBe(200);
    expect(server.server.exitCode).toBeNull();
  }

  /** GNU tar's own reading of the archive: `tar -tv` lines, and what `tar -x` makes in a scratch directory. */
  function gnuTar(bytes: Buffer, name: string): { listing: string; unpacked: Map<string, string> } {
    const dir = join(box.dir.path, name);
    mkdirSync(join(dir, 'tree'), { recursive: true });
    writeFileSync(join(dir, 'archive.tar.gz'), bytes);
    const listing = execFileSync('tar', ['-tvzf', join(dir, 'archive.tar.gz')], { encoding: 'utf8' });
    execFileSync('tar', ['-xzf', join(dir, 'archive.tar.gz'), '-C', join(dir, 'tree'), '--no-same-owner', '--no-same-permissions']);
    const unpacked = new Map(readdirSync(join(dir, 'tree')).map((entry) => {
      const stats = lstatSync(join(dir, 'tree', entry));
      return [entry, stats.isFIFO() ? 'FIFO' : stats.isDirectory() ? 'directory' : stats.isSymbolicLink() ? 'link' : 'file'];
    }));
    return { listing, unpacked };
  }

  // Each member declares data, and what it declares is the header of a FIFO: GNU tar reads no
  // data after a directory, link or hard link header, so it takes that header for a member.
  const smuggled: [what: string, entries: TarEntry[], refusal: RegExp][] = [
    ['a directory', [{ type: 'dir', name: 'd/', size: 512 }], /member "d\/" is a directory that declares 512 bytes of data; GNU tar reads no data for a directory/],
    ['a symbolic link', [{ type: 'symlink', name: 's', target: 'slipway.yml', size: 512 }], /member "s" is a symbolic link that declares 512 bytes of data/],
    // tar reads a hard link's size as 0 whatever it says: the check reads it so and meets the FIFO.
    ['a hard link', [{ type: 'hardlink', name: 'h', target: 'slipway.yml', size: 512 }], /member "pipe" is a FIFO; a source archive holds files, directories and links/],
  ];

  it.each(smuggled)('refuses a FIFO smuggled in the declared data of %s, which GNU tar unpacks', async (what, entries, refusal) => {
    const bytes = tarGz([{ type: 'file', name: 'slipway.yml', data: PIPELINE }, ...entries, { type: 'fifo', name: 'pipe' }]);
    const tar = gnuTar(bytes, what.replaceAll(' ', '-'));
    expect(tar.unpacked.get('pipe')).toBe('FIFO');
    // `tar -t` skips a symbolic link's declared data, so only `tar -x` shows that one.
    if (what !== 'a symbolic link') expect(tar.listing).toMatch(/^p.* pipe$/m);

    const before = stored();
    const answer = await upload(bytes);
    expect(answer.status).toBe(400);
    expect(answer.error).toMatch(/^the source archive is refused: /);
    expect(answer.error).toMatch(refusal);
    expect(stored()).toEqual(before);
    await expectAnswering();
  });

  it('refuses a character device that GNU tar lists in a directory\'s declared data', async () => {
    const bytes = tarGz([{ type: 'dir', name: 'd/', size: 512 }, { type: 'chardev', name: 'mem' }]);
    // Listed only: unpacking it would make a device node.
    const dir = join(box.dir.path, 'chardev');
    mkdirSync(dir);
    writeFileSync(join(dir, 'archive.tar.gz'), bytes);
    expect(execFileSync('tar', ['-tvzf', join(dir, 'archive.tar.gz')], { encoding: 'utf8' })).toMatch(/^c.* mem$/m);
    const answer = await upload(bytes);
    expect(answer).toEqual({ status: 400, error: expect.stringMatching(/member "d\/" is a directory that declares 512 bytes of data/) });
    expect(stored()).toEqual([]);
  });

  it('refuses with 413 an archive that would unpack to more than max_unpacked_bytes, unpacking nothing', async () => {
    // Three files of zeros: 24 MiB unpacked from a few KiB.
    const zeros = Buffer.alloc(8 * 1024 * 1024);
    const bytes = tarGz([{ type: 'file', name: 'slipway.yml', data: PIPELINE }, ...[1, 2, 3].map((n) => ({ type: 'file' as const, name: `zeros-${n}`, data: zeros }))]);
    expect(bytes.length).toBeLessThan(MAX_BYTES / 100);
    const before = stored();
    const answer = await upload(bytes);
    expect(answer).toEqual({ status: 413, error: `the source archive would unpack to more than ${MAX_BYTES} bytes, the limit [server] max_unpacked_bytes sets` });
    expect(stored()).toEqual(before);
    await expectAnswering();
  });

  it('refuses from the header alone a member that declares more than max_unpacked_bytes', async () => {
    // No data follows: a check that read the data first would find the archive cut short instead.
    const answer = await upload(tarGz([{ type: 'file', name: 'huge', size: 1024 ** 3 }]));
    expect(answer.status).toBe(413);
    expect(answer.error).toContain('[server] max_unpacked_bytes');
  });

  it('refuses with 413 an archive with more than max_archive_members members', async () => {
    const many = Array.from({ length: MAX_MEMBERS + 1 }, (_, i) => ({ type: 'file' as const, name: `f${i}` }));
    const answer = await upload(tarGz(many));
    expect(answer).toEqual({ status: 413, error: `the source archive has more than ${MAX_MEMBERS} members, the limit [server] max_archive_members sets` });
    await expectAnswering();
  });

  it('keeps an archive within both limits, and only that one', async () => {
    const bytes = tarGz([
      { type: 'file', name: 'slipway.yml', data: PIPELINE },
      { type: 'file', name: 'zeros', data: Buffer.alloc(MAX_BYTES - 1024) },
      ...Array.from({ length: MAX_MEMBERS - 2 }, (_, i) => ({ type: 'file' as const, name: `f${i}` })),
    ]);
    const answer = await upload(bytes);
    expect(answer.status).toBe(201);
    expect(stored()).toEqual([`blobs/sha256/${answer.digest!.slice(0, 2)}/${answer.digest!.slice(2)}`]);
  });
});
