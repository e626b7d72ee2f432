import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { candidatesPerQuestion, commonBases, createBundle, historyOf, publicBase } from '../../src/vcs/bundle.ts';
import { Mirrors } from '../../src/vcs/mirrors.ts';
import { TestRepository, testVcsEnv } from '../helpers/repositories.ts';
import { tempDir } from '../helpers/temp.ts';

const hour = 3600_000;

describe('bundle negotiation', () => {
  /** A server that holds the line from index `held` on (and its history), counting questions. */
  const server = (line: string[], held: number) => {
    const has = new Set(line.slice(held));
    const questions: number[] = [];
    return { questions, ask: async (ids: string[]) => { questions.push(ids.length); return ids.filter((id) => has.has(id)); } };
  };
  const line = Array.from({ length: 100_000 }, (_, i) => `c${i}`);

  it('finds the newest revision the server holds on a long line in a few questions of bounded size', async () => {
    for (const held of [0, 1, 2, 3, 12_345, 65_537, 99_999]) {
      const { questions, ask } = server(line, held);
      expect(await commonBases(line, [], ask)).toEqual([line[held]]);
      expect(questions.length).toBeLessThanOrEqual(4);
      for (const size of questions) expect(size).toBeLessThanOrEqual(candidatesPerQuestion);
    }
  });

  it('sends everything to a server that holds nothing, and adds the shared tips it holds', async () => {
    expect(await commonBases(line, [], server(line, line.length).ask)).toEqual([]);
    const ask = async (ids: string[]) => ids.filter((id) => id === 'c99999' || id === 'remote-tip');
    expect(await commonBases(line, ['remote-tip', 'other'], ask)).toEqual(['c99999', 'remote-tip']);
  });
});

describe('mirrors', () => {
  const dir = tempDir('slipway-mirrors-');
  afterAll(() => dir.remove());
  /** Each test's own mirrors, so one's tries never expire in another's collection. */
  const mirrorsIn = (name: string) => new Mirrors({ root: join(dir.path, name), tryExpiryMs: hour, fileRemotes: [] });

  /** Tries `id` of `repo` as `slipway try` does: only what the mirror lacks goes. */
  const sendTry = async (mirrors: Mirrors, repo: TestRepository, id: string, at: number) => {
    const identity = repo.run(repo.vcs === 'git' ? ['rev-list', '--max-parents=0', 'HEAD'] : ['log', '-r', '0', '-T', '{node}']).trim();
    const { line, others } = await historyOf(repo, id);
    const bases = await commonBases(line, others, (ids) => mirrors.known(repo.vcs, identity, ids));
    const file = join(dir.path, `${id}.bundle`);
    await createBundle(repo, id, bases, file);
    return mirrors.receiveTry(repo.vcs, identity, id, await publicBase(repo, id), file, at);
  };
  const git = (mirror: string, args: string[]) => execFileSync('git', args, { cwd: mirror, env: testVcsEnv(), encoding: 'utf8' });
  const hg = (mirror: string, args: string[]) => execFileSync('hg', args, { cwd: mirror, env: testVcsEnv(), encoding: 'utf8' });
  const has = (mirror: string, id: string) => {
    try {
      git(mirror, ['cat-file', '-e', `${id}^{commit}`]);
      return true;
    } catch {
      return false;
    }
  };

  it('drops an expired git try and the commits only it needed, and keeps a live one', async () => {
    const mirrors = mirrorsIn('git-mirrors');
    const repo = new TestRepository('git', join(dir.path, 'git'));
    repo.commit('root', { 'a.txt': 'a\n' });
    const old = repo.commit('old try', { 'a.txt': 'old\n' });
    repo.run(['checkout', '--quiet', 'HEAD~1']);
    const fresh = repo.commit('fresh try', { 'a.txt': 'fresh\n' });

    const first = await sendTry(mirrors, repo, old, 0);
    const second = await sendTry(mirrors, repo, fresh, hour / 2);
    const mirror = join(dir.path, 'git-mirrors', `git-${first.repository}`);
    expect(git(mirror, ['for-each-ref', '--format=%(refname)']).split('\n').filter(Boolean).sort())
      .toEqual([`refs/slipway/try/${first.try}`, `refs/slipway/try/${second.try}`].sort());

    expect(await mirrors.collect(hour - 1)).toBe(0);
    expect(await mirrors.collect(hour)).toBe(1);
    expect(git(mirror, ['for-each-ref', '--format=%(refname)']).trim()).toBe(`refs/slipway/try/${second.try}`);
    expect(has(mirror, old)).toBe(false);
    expect(has(mirror, fresh)).toBe(true);
    expect(mirrors.tryOf(first.try!)).toBeUndefined();
    expect(mirrors.tryOf(second.try!)?.revision).toBe(fresh);

    expect(await mirrors.collect(2 * hour)).toBe(1);
    expect(git(mirror, ['for-each-ref']).trim()).toBe('');
  });

  it('takes a try of a merge on a tried revision: the merged branch comes with it', async () => {
    const mirrors = mirrorsIn('merge-mirrors');
    const repo = new TestRepository('git', join(dir.path, 'git-merge'));
    repo.commit('root', { 'a.txt': 'a\n' });
    const main = repo.commit('main work', { 'a.txt': 'main\n' });
    await sendTry(mirrors, repo, main, 0);
    repo.run(['checkout', '--quiet', '-b', 'topic', 'HEAD~1']);
    const topic = repo.commit('topic work', { 'b.txt': 'topic\n' });
    repo.run(['checkout', '--quiet', 'main']);
    repo.run(['merge', '--quiet', '--no-edit', 'topic']);
    const merge = repo.run(['rev-parse', 'HEAD']).trim();

    const tried = await sendTry(mirrors, repo, merge, 1);
    const mirror = join(dir.path, 'merge-mirrors', `git-${tried.repository}`);
    expect(has(mirror, merge)).toBe(true);
    expect(has(mirror, topic)).toBe(true);
    expect(git(mirror, ['show', `${merge}:b.txt`])).toBe('topic\n');
  });

  it('strips an expired hg try, keeping the public history and a live try', async () => {
    const mirrors = mirrorsIn('hg-mirrors');
    const repo = new TestRepository('hg', join(dir.path, 'hg'));
    repo.commit('public', { 'a.txt': 'a\n' });
    repo.run(['phase', '--public', '--rev', '.']);
    const old = repo.commit('old try', { 'a.txt': 'old\n' });
    repo.run(['update', '--quiet', '--rev', '0']);
    const fresh = repo.commit('fresh try', { 'a.txt': 'fresh\n' });

    const first = await sendTry(mirrors, repo, old, 0);
    await sendTry(mirrors, repo, fresh, hour / 2);
    const mirror = join(dir.path, 'hg-mirrors', `hg-${first.repository}`);
    const phases = () => hg(mirror, ['log', '--hidden', '--template', '{desc}: {phase}\n']).split('\n').filter(Boolean).sort();
    expect(phases()).toEqual(['fresh try: secret', 'old try: secret', 'public: public']);

    expect(await mirrors.collect(hour)).toBe(1);
    expect(phases()).toEqual(['fresh try: secret', 'public: public']);
    expect(await mirrors.collect(2 * hour)).toBe(1);
    expect(phases()).toEqual(['public: public']);
  });

  it("refuses another repository's hg revision claimed as this one's, and strips what its bundle brought with the expired tries", async () => {
    const mirrors = mirrorsIn('stranger-mirrors');
    const repo = new TestRepository('hg', join(dir.path, 'hg-own'));
    repo.commit('public', { 'a.txt': 'a\n' });
    repo.run(['phase', '--public', '--rev', '.']);
    const own = await sendTry(mirrors, repo, repo.commit('draft', { 'a.txt': 'draft\n' }), 0);
    const other = new TestRepository('hg', join(dir.path, 'hg-other'));
    const stranger = other.commit('stranger', { 'b.txt': 'b\n' });
    const strangerBundle = join(dir.path, 'stranger.hg');
    await createBundle(other, stranger, [], strangerBundle);

    await expect(mirrors.receiveTry('hg', own.repository, stranger, null, strangerBundle, 0)).rejects.toThrow(/belongs to the repository whose first revision is/);
    const mirror = join(dir.path, 'stranger-mirrors', `hg-${own.repository}`);
    const phases = () => hg(mirror, ['log', '--hidden', '--template', '{desc}: {phase}\n']).split('\n').filter(Boolean).sort();
    expect(phases()).toEqual(['draft: secret', 'public: public', 'stranger: secret']);
    expect(await mirrors.collect(hour)).toBe(1);
    expect(phases()).toEqual(['public: public']);
  });

  it('removes what broken-off requests left in incoming/ an hour ago, not what one writes now', async () => {
    const mirrors = mirrorsIn('incoming-mirrors');
    const incoming = join(dir.path, 'incoming-mirrors', 'incoming');
    mkdirSync(incoming, { recursive: true });
    writeFileSync(join(incoming, 'stale.bundle'), 'half a bundle');
    utimesSync(join(incoming, 'stale.bundle'), new Date(Date.now() - 2 * hour), new Date(Date.now() - 2 * hour));
    writeFileSync(join(incoming, 'arriving.bundle'), 'a bundle on its way');
    await mirrors.collect(Date.now());
    expect(readdirSync(incoming)).toEqual(['arriving.bundle']);
  });
});
