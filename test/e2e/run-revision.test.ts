import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import { Sandbox } from '../helpers/cli.ts';
import { processesUnder } from '../helpers/processes.ts';
import { TestRepository, testVcsEnv } from '../helpers/repositories.ts';
import { startServer } from '../helpers/server-process.ts';

/** A pipeline whose one task writes down a word, the files of its tree and its revision variables. */
function lookingPipeline(out: string, word: string): string {
  return `
name: tree
activities:
  builder: {}
steps:
  look:
    activity: builder
    env: { OUT: ${out} }
    run: |
      echo ${word} > "$OUT/word-$SLIPWAY_RUN"
      find . -type f | sed 's|^\\./||' | sort > "$OUT/files-$SLIPWAY_RUN"
      echo "$SLIPWAY_REVISION|$SLIPWAY_BRANCH|$SLIPWAY_REPOSITORY" > "$OUT/env-$SLIPWAY_RUN"
`;
}

describe('slipway run from a git or Mercurial working copy', () => {
  const box = new Sandbox();
  let out: string;
  let server: Awaited<ReturnType<typeof startServer>>;
  const env = testVcsEnv();

  beforeAll(async () => {
    out = box.sharedDir('out');
    server = await startServer(box);
  });
  afterAll(async () => {
    server.server.kill('SIGTERM');
    await server.server.result;
    expect(processesUnder(box.dir.path)).toEqual([]);
    box.cleanup();
  });

  const seen = (report: RunReport) => ({
    word: readFileSync(join(out, `word-${report.run.id}`), 'utf8').trim(),
    files: readFileSync(join(out, `files-${report.run.id}`), 'utf8').split('\n').filter(Boolean),
    env: readFileSync(join(out, `env-${report.run.id}`), 'utf8').trim(),
  });
  const server_ = () => ['--server', server.url, '--token', server.admin];
  const run = async (args: string[]) => {
    const result = await box.run(['run', ...args, '--json'], env);
    expect(result.code, result.stderr).toBe(0);
    return { report: JSON.parse(result.stdout) as RunReport, stderr: result.stderr };
  };

  it('sends the working tree without ignored files or .git, locally and to a server, and says so', async () => {
    const repo = new TestRepository('git', join(box.dir.path, 'git-repo'));
    repo.commit('first', { 'ci/slipway.yml': lookingPipeline(out, 'committed'), 'ci/.gitignore': 'build/\n*.log\n', 'ci/kept.txt': 'k\n', 'elsewhere.txt': 'e\n' });
    // Uncommitted edits and untracked files are the fast loop's point: they go; ignored ones do not.
    repo.write({ 'ci/slipway.yml': lookingPipeline(out, 'edited'), 'ci/new.txt': 'n\n', 'ci/debug.log': 'noise\n', 'ci/build/out.o': 'obj\n' });
    const file = join(repo.root, 'ci', 'slipway.yml');
    const head = repo.run(['rev-parse', 'HEAD']).trim();
    for (const where of [[], server_()]) {
      const { report, stderr } = await run([file, ...where]);
      // A working tree has a branch and a base, but is no revision.
      expect(seen(report)).toEqual({ word: 'edited', files: ['.gitignore', 'kept.txt', 'new.txt', 'slipway.yml'], env: `|main|${repo.root}` });
      expect(report.run.source).toEqual({
        digest: expect.stringMatching(/^[0-9a-f]{64}$/), vcs: 'git', repository: repo.root, revision: null, branch: 'main', base: head, author: null, message: null, try: false,
      });
      expect(stderr).toContain(`source: working tree of git repository ${repo.root} (main) at ${head.slice(0, 12)}, 2 ignored paths left out`);
    }
  });

  // One Mercurial repository for the runs of its older revision (locally and on the server) and the listing test after them.
  const ran: Record<string, string> = {};
  let hg: { repo: TestRepository; older: string } | undefined;
  const hgRepo = () => {
    if (hg) return hg;
    const repo = new TestRepository('hg', join(box.dir.path, 'hg-repo'));
    const older = repo.commit('the older one', { 'slipway.yml': lookingPipeline(out, 'older'), 'data.txt': '1\n' });
    repo.commit('the newer one', { 'slipway.yml': lookingPipeline(out, 'newer'), 'data.txt': '2\n', 'more.txt': 'm\n' });
    repo.write({ 'slipway.yml': lookingPipeline(out, 'uncommitted'), 'untracked.txt': 'u\n' });
    return (hg = { repo, older });
  };

  it.each([['locally', false], ['on a server', true]] as const)('runs a committed revision %s as that revision has it, and names the uncommitted files left out', async (where, onServer) => {
    const { repo, older } = hgRepo();
    const { report, stderr } = await run([join(repo.root, 'slipway.yml'), '--revision', older.slice(0, 8), ...(onServer ? server_() : [])]);
    ran[where] = report.run.id;
    expect(seen(report)).toEqual({ word: 'older', files: ['data.txt', 'slipway.yml'], env: `${older}|default|${repo.root}` });
    expect(report.run.source).toEqual({
      digest: expect.stringMatching(/^[0-9a-f]{64}$/), vcs: 'hg', repository: repo.root, revision: older, branch: 'default', base: null,
      author: 'Test Author <author@example.com>', message: 'the older one', try: false,
    });
    expect(stderr).toContain(`source: revision ${older.slice(0, 12)} (default) of Mercurial repository ${repo.root} by Test Author: the older one`);
    expect(stderr).toContain(`uncommitted changes are left out, only ${older.slice(0, 12)} as committed runs: slipway.yml (modified), untracked.txt (untracked)`);
  });

  it('lists the runs of a revision or a branch, from the store and through the server (CLI and API)', async () => {
    const { older } = hgRepo();
    // The server shares the store of slipway run: both runs are in it, newest first.
    const both = [ran['on a server'], ran.locally];
    expect(both.every(Boolean), 'the runs of the tests above').toBe(true);
    const listed = async (args: string[]) => (JSON.parse((await box.run(['runs', '--json', ...args], env)).stdout) as RunReport['run'][]).map((r) => r.id);
    expect(await listed(['--revision', older.slice(0, 7)])).toEqual(both);
    expect(await listed(['--branch', 'nosuchbranch', ...server_()])).toEqual([]);
    const table = (await box.run(['runs', '--branch', 'default', ...server_()], env)).stdout;
    const row = (id: string) => `${id}.*${older.slice(0, 12)}  Test Author  the older one`;
    expect(table).toMatch(new RegExp(`${row(both[0]!)}\n${row(both[1]!)}`));
    const api = async (query: string) => fetch(`${server.url}/api/v1/runs?${query}`, { headers: { authorization: `Bearer ${server.admin}` } });
    expect(((await (await api(`revision=${older.slice(0, 10)}`)).json()) as { runs: RunReport['run'][] }).runs.map((r) => r.id)).toEqual(both);
    expect((await api("revision=a%25'")).status).toBe(400);
    const refused = await box.run(['runs', '--revision', "a%'"], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("--revision takes a revision id or the start of one (hex digits), not 'a%''");
  });

  it('refuses an origin with a short id or control characters, saying which field', async () => {
    const submit = (origin: Record<string, unknown>) => fetch(`${server.url}/api/v1/runs`, {
      method: 'POST', headers: { authorization: `Bearer ${server.admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ source: '0'.repeat(64), file: 'slipway.yml', origin: { vcs: 'git', repository: null, revision: null, branch: null, base: null, author: null, message: null, ...origin } }),
    });
    for (const [field, value, said] of [['revision', 'abc123', 'a full git or hg id'], ['author', 'Eve \u001b[2J', 'no control characters'], ['message', 'ok\nnot \u0007ok', 'no control characters but newlines']] as const) {
      const answer = await submit({ [field]: value });
      expect(answer.status).toBe(400);
      expect(await answer.text()).toContain(`origin.${field}: ${said}`);
    }
    // A message has lines; the run is then refused only for its missing archive.
    expect((await submit({ message: 'subject\n\n\tbody' })).status).toBe(404);
  });

  it('refuses an unknown revision, and a revision outside any working copy', async () => {
    const repo = new TestRepository('git', join(box.dir.path, 'refusing'));
    repo.commit('first', { 'slipway.yml': lookingPipeline(out, 'x') });
    const unknown = await box.run(['run', join(repo.root, 'slipway.yml'), '--revision', 'nosuchrev'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(`--revision nosuchrev: no revision nosuchrev in git repository ${repo.root}`);
    mkdirSync(join(box.dir.path, 'plain'));
    writeFileSync(join(box.dir.path, 'plain', 'slipway.yml'), lookingPipeline(out, 'x'));
    const plain = await box.run(['run', join(box.dir.path, 'plain', 'slipway.yml'), '--revision', 'HEAD'], env);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain(`--revision HEAD: ${join(box.dir.path, 'plain')} is in no git or Mercurial working copy`);
  });
});
