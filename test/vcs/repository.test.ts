import { mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { uncommittedFiles } from '../../src/vcs/dirty.ts';
import { exportArchive, exportRevision } from '../../src/vcs/export.ts';
import { repositoryIdentity } from '../../src/vcs/identity.ts';
import { resolveRevision, UnknownRevision } from '../../src/vcs/revision.ts';
import { treeFiles } from '../../src/vcs/tree-files.ts';
import { findWorkingCopy, type WorkingCopy } from '../../src/vcs/working-copy.ts';
import { TestRepository, testVcsEnv } from '../helpers/repositories.ts';
import { tempDir } from '../helpers/temp.ts';

let temp: ReturnType<typeof tempDir>;
let savedEnv: NodeJS.ProcessEnv;
beforeEach(() => {
  temp = tempDir('slipway-vcs-');
  // The code under test runs git and hg with the process's environment: keep the machine's config out.
  savedEnv = process.env;
  process.env = testVcsEnv();
});
afterEach(() => {
  process.env = savedEnv;
  temp.remove();
});

describe.each(['git', 'hg'] as const)('%s working copy', (vcs) => {
  const head = vcs === 'git' ? 'HEAD' : '.';
  let repo: TestRepository;
  let copy: WorkingCopy;
  beforeEach(async () => {
    repo = new TestRepository(vcs, join(temp.path, 'repo'));
    copy = { vcs, root: repo.root };
  });

  it('is found from a directory inside it, and a plain directory is none', async () => {
    repo.commit('first', { 'sub/deep/file': 'x\n' });
    expect(await findWorkingCopy(join(repo.root, 'sub', 'deep'))).toEqual(copy);
    mkdirSync(join(temp.path, 'plain'));
    expect(await findWorkingCopy(join(temp.path, 'plain'))).toBeNull();
  });

  it('resolves a revision to its full id, author, message, parents and branch', async () => {
    const first = repo.commit('first', { 'a.txt': '1\n' });
    if (vcs === 'hg') repo.run(['bookmark', 'feature']);
    const second = repo.commit('second change\n\nwith a body', { 'a.txt': '2\n' });
    const revision = await resolveRevision(copy, head);
    expect(revision).toMatchObject({
      id: second, author: 'Test Author <author@example.com>', message: 'second change\n\nwith a body',
      parents: [first], branch: vcs === 'git' ? 'main' : 'feature',
    });
    expect((await resolveRevision(copy, first.slice(0, 10))).id).toBe(first);
    // An older revision no branch points at has none in git; in hg its named branch.
    expect((await resolveRevision(copy, first)).branch).toBe(vcs === 'git' ? null : 'default');
  });

  it('refuses an unknown revision with the VCS own words, and a name that looks like an option', async () => {
    repo.commit('first', { 'a.txt': '1\n' });
    const unknown = await resolveRevision(copy, 'nosuchrev').catch((error: Error) => error);
    expect(unknown).toBeInstanceOf(UnknownRevision);
    expect(unknown.message).toContain(`no revision nosuchrev in ${vcs === 'git' ? 'git' : 'Mercurial'} repository ${repo.root}`);
    if (vcs === 'hg') expect(unknown.message).toContain("unknown revision 'nosuchrev'");
    await expect(resolveRevision(copy, '--output=/tmp/x')).rejects.toThrow(UnknownRevision);
  });

  it('gives a merge both its parents, and keeps the identity through it', async () => {
    const root = repo.commit('root', { 'a.txt': '1\n' });
    repo.run(vcs === 'git' ? ['checkout', '--quiet', '-b', 'side'] : ['branch', 'side']);
    const side = repo.commit('on side', { 'b.txt': 'side\n' });
    repo.run(vcs === 'git' ? ['checkout', '--quiet', 'main'] : ['update', '--quiet', 'default']);
    const main = repo.commit('on main', { 'c.txt': 'main\n' });
    repo.run(vcs === 'git' ? ['merge', '--quiet', '--no-ff', '--no-commit', 'side'] : ['merge', '--quiet', 'side']);
    const merge = repo.commit('merge side');
    const revision = await resolveRevision(copy, head);
    expect(revision.id).toBe(merge);
    expect(revision.parents).toEqual([main, side]);
    expect(await repositoryIdentity(copy, merge)).toBe(root);
    expect(await repositoryIdentity(copy, side)).toBe(root);
  });

  it('has the same identity in a clone, and another repository has another', async () => {
    const root = repo.commit('root', { 'a.txt': '1\n' });
    repo.commit('more', { 'a.txt': '2\n' });
    const clone = join(temp.path, 'clone');
    repo.run(vcs === 'git' ? ['clone', '--quiet', repo.root, clone] : ['clone', '--quiet', repo.root, clone]);
    const cloned = { vcs, root: clone };
    expect(await repositoryIdentity(cloned, (await resolveRevision(cloned, head)).id)).toBe(root);
    const other = new TestRepository(vcs, join(temp.path, 'other'));
    const otherRoot = other.commit('root', { 'a.txt': 'other\n' });
    expect(await repositoryIdentity({ vcs, root: other.root }, otherRoot)).not.toBe(root);
  });

  it('lists uncommitted files and the working tree without ignored files, .git or .hg', async () => {
    const ignoreFile = vcs === 'git' ? '.gitignore' : '.hgignore';
    repo.commit('first', { [ignoreFile]: vcs === 'git' ? 'build/\n*.log\n' : 'syntax: glob\nbuild/**\n*.log\n', 'app/kept.c': 'int x;\n', 'app/gone.c': 'int y;\n', 'top.txt': 't\n' });
    repo.write({ 'app/kept.c': 'int x = 1;\n', 'app/new.c': 'new\n', 'app/debug.log': 'noise\n', 'app/build/out.o': 'obj\n', 'build/out.o': 'obj\n' });
    unlinkSync(join(repo.root, 'app/gone.c'));
    // A repository of another VCS nested in the tree is no part of it.
    mkdirSync(join(repo.root, 'app', vcs === 'git' ? '.hg' : '.git'));
    writeFileSync(join(repo.root, 'app', vcs === 'git' ? '.hg' : '.git', 'config'), 'x');

    expect(await uncommittedFiles(copy)).toEqual([
      { path: 'app/gone.c', change: 'removed' }, { path: 'app/kept.c', change: 'modified' }, { path: 'app/new.c', change: 'untracked' },
    ]);
    const whole = await treeFiles(copy, repo.root);
    expect(whole.files).toEqual([ignoreFile, 'app/kept.c', 'app/new.c', 'top.txt']);
    expect(whole.ignored).toBe(vcs === 'git' ? 3 : 3);
    const app = await treeFiles(copy, join(repo.root, 'app'));
    expect(app.files).toEqual(['kept.c', 'new.c']);
    expect(app.ignored).toBe(2);
  });

  it('exports a committed revision, never the uncommitted changes, the same bytes every time', async () => {
    const first = repo.commit('first', { 'a.txt': 'committed\n', 'sub/b.txt': 'b\n' });
    repo.commit('second', { 'a.txt': 'later\n' });
    repo.write({ 'a.txt': 'dirty\n', 'untracked.txt': 'u\n' });
    const out = join(temp.path, 'out');
    mkdirSync(out);
    await exportRevision(copy, first, out);
    expect(readdirSync(out).sort()).toEqual(['a.txt', 'sub']);
    expect(readFileSync(join(out, 'a.txt'), 'utf8')).toBe('committed\n');
    await exportArchive(copy, first, join(temp.path, 'one.tar.gz'));
    await exportArchive(copy, first, join(temp.path, 'two.tar.gz'));
    expect(readFileSync(join(temp.path, 'one.tar.gz')).equals(readFileSync(join(temp.path, 'two.tar.gz')))).toBe(true);
  });
});

describe('a git history with several roots', () => {
  it('keeps the identity of the history another was merged into', async () => {
    const repo = new TestRepository('git', join(temp.path, 'repo'));
    repo.run(['checkout', '--quiet', '--orphan', 'older']);
    repo.commit('root of a project merged in later', { 'lib/x.c': 'x\n' });
    repo.run(['checkout', '--quiet', '--orphan', 'main']);
    repo.run(['rm', '-r', '--quiet', '--cached', '.']);
    rmSync(join(repo.root, 'lib'), { recursive: true });
    const root = repo.commit('root of this project', { 'a.txt': '1\n' });
    repo.run(['merge', '--quiet', '--no-commit', '--allow-unrelated-histories', 'older']);
    const merge = repo.commit('merge the library');
    expect(await repositoryIdentity({ vcs: 'git', root: repo.root }, merge)).toBe(root);
  });
});

describe('hg phases', () => {
  it('tells public from draft changesets', async () => {
    const repo = new TestRepository('hg', join(temp.path, 'repo'));
    const published = repo.commit('published', { 'a.txt': '1\n' });
    repo.run(['phase', '--public', '-r', '.']);
    const draft = repo.commit('draft', { 'a.txt': '2\n' });
    const copy: WorkingCopy = { vcs: 'hg', root: repo.root };
    expect((await resolveRevision(copy, published)).phase).toBe('public');
    expect((await resolveRevision(copy, draft)).phase).toBe('draft');
    expect((await resolveRevision(copy, 'draft()')).id).toBe(draft);
    await expect(resolveRevision(copy, 'all()')).rejects.toThrow('all() names 2 revisions');
  });
});

describe('a Mercurial repository inside a git working copy', () => {
  it('is Mercurial from inside it and git outside it', async () => {
    const outer = new TestRepository('git', join(temp.path, 'outer'));
    outer.commit('first', { 'x.txt': 'x\n' });
    const inner = new TestRepository('hg', join(outer.root, 'inner'));
    expect(await findWorkingCopy(join(inner.root))).toEqual({ vcs: 'hg', root: inner.root });
    expect(await findWorkingCopy(outer.root)).toEqual({ vcs: 'git', root: outer.root });
  });
});
