import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import { repoRoot, Sandbox, type CliResult } from '../helpers/cli.ts';
import { processesUnder, waitFor } from '../helpers/processes.ts';
import { TestRepository, testVcsEnv } from '../helpers/repositories.ts';
import { startServer } from '../helpers/server-process.ts';

/** A pipeline whose one task writes down the text of greeting.txt, by run. */
function pipeline(out: string): string {
  return `
name: tried
activities:
  builder: {}
steps:
  look:
    activity: builder
    env: { OUT: ${out} }
    run: cp greeting.txt "$OUT/greeting-$SLIPWAY_RUN"
`;
}

/** Text no compression squeezes to nothing: the first try's bundle carries it. */
function bulk(seed: number, lines = 4000): string {
  let text = '';
  let x = seed;
  for (let i = 0; i < lines; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    text += `${x.toString(36)} ${i}\n`;
  }
  return text;
}

describe('slipway try', () => {
  const box = new Sandbox();
  let out: string;
  let server: Awaited<ReturnType<typeof startServer>>;
  let mirrors: string;

  beforeAll(async () => {
    out = box.sharedDir('out');
    mkdirSync(join(box.config, 'slipway'), { recursive: true });
    // Tries expire fast here, so the garbage collection is seen within the test.
    writeFileSync(join(box.config, 'slipway', 'config.toml'), '[server]\ntry_expiry = "1h"\n');
    server = await startServer(box, 0, ['--health-interval', '1s']);
    mirrors = join(box.state, 'slipway', 'mirrors');
  });
  afterAll(async () => {
    server.server.kill('SIGTERM');
    await server.server.result;
    expect(processesUnder(box.dir.path)).toEqual([]);
    box.cleanup();
  });

  /** `slipway try ARGS` in `dir`, as a user would type it there. */
  const tryIn = (dir: string, args: string[], token = server.admin): Promise<CliResult> =>
    box.run(['try', '--server', server.url, ...args], { SLIPWAY_TOKEN: token, ...testVcsEnv() }, dir);
  const tried = async (dir: string, args: string[] = []) => {
    const result = await tryIn(dir, [...args, '--wait', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as RunReport;
    return { report, stderr: result.stderr, greeting: readFileSync(join(out, `greeting-${report.run.id}`), 'utf8') };
  };
  const bundleBytes = (stderr: string): number => {
    const match = stderr.match(/in a ([\d.]+) (B|KB|MB) bundle/);
    if (!match) return 0;
    return Number(match[1]) * { B: 1, KB: 1024, MB: 1024 * 1024 }[match[2] as 'B' | 'KB' | 'MB'];
  };
  const api = (path: string, init: RequestInit = {}) => fetch(`${server.url}${path}`, { ...init, headers: { authorization: `Bearer ${server.admin}`, ...init.headers } });

  it('tries the committed parent of a dirty git working copy, says what it left out, then sends only a new commit', async () => {
    const repo = new TestRepository('git', join(box.dir.path, 'git-repo'));
    const firstId = repo.commit('first', { 'slipway.yml': pipeline(out), 'greeting.txt': 'committed\n', 'data.txt': bulk(1) });
    repo.write({ 'greeting.txt': 'not committed\n', 'scratch.txt': 'mine\n' });

    const first = await tried(repo.root);
    expect(first.greeting).toBe('committed\n');
    expect(first.stderr).toContain('uncommitted changes are not sent');
    expect(first.stderr).toContain('greeting.txt (modified)');
    expect(first.stderr).toContain('scratch.txt (untracked)');
    expect(bundleBytes(first.stderr)).toBeGreaterThan(20_000);

    const secondId = repo.commit('second', { 'greeting.txt': 'committed twice\n' });
    const second = await tried(repo.root);
    expect(second.greeting).toBe('committed twice\n');
    // The run says what it ran: a try of the second commit, on the first, which the server had.
    expect(second.report.run.source).toMatchObject({
      vcs: 'git', revision: secondId, base: firstId, branch: 'main', author: 'Test Author <author@example.com>', message: 'second', try: true,
    });
    expect(second.stderr).toContain('sent 1 changeset');
    expect(bundleBytes(second.stderr)).toBeGreaterThan(0);
    expect(bundleBytes(second.stderr)).toBeLessThan(2048);

    // An older revision the server has: nothing to send.
    const older = await tried(repo.root, ['-r', 'HEAD~1']);
    expect(older.greeting).toBe('committed\n');
    expect(older.stderr).toContain('nothing to send');

    // Without --wait, the run is left to run; --json says what was sent, for scripts.
    const sent = await tryIn(repo.root, ['--json']);
    expect(sent.code, sent.stderr).toBe(0);
    expect(JSON.parse(sent.stdout)).toMatchObject({
      run: expect.stringMatching(/^r-[0-9a-f]{8}$/), url: expect.stringContaining(`${server.url}/runs/r-`),
      try: expect.stringMatching(/^try-[0-9a-f]{8}$/), revision: secondId, changesets: 0, bundle_bytes: 0,
    });
    const left = (JSON.parse(sent.stdout) as { run: string }).run;
    await waitFor(async () => ((await (await api(`/api/v1/runs/${left}`)).json()) as RunReport).run.status === 'succeeded', 30_000, `run ${left} to succeed`);

    // Each try keeps its revision under its own ref; none is a branch.
    const mirror = join(mirrors, readdirSync(mirrors).find((name) => name.startsWith('git-'))!);
    const refs = execIn(mirror, 'git', ['for-each-ref', '--format=%(refname)']).split('\n').filter(Boolean);
    expect(refs).toHaveLength(4);
    for (const ref of refs) expect(ref).toMatch(/^refs\/slipway\/try\/try-[0-9a-f]{8}$/);
  });

  it('sends an hg draft changeset on its public history: public stays public, the try is secret, a second try sends one changeset', async () => {
    const repo = new TestRepository('hg', join(box.dir.path, 'hg-repo'));
    repo.commit('public', { 'slipway.yml': pipeline(out), 'greeting.txt': 'public\n', 'data.txt': bulk(2) });
    repo.run(['phase', '--public', '--rev', '.']);
    const draft = repo.commit('draft', { 'greeting.txt': 'draft\n' });

    const first = await tried(repo.root);
    expect(first.greeting).toBe('draft\n');
    const mirror = join(mirrors, readdirSync(mirrors).find((name) => name.startsWith('hg-'))!);
    const phases = () => execIn(mirror, 'hg', ['log', '--hidden', '--template', '{desc} {phase}\n']).split('\n').filter(Boolean).sort();
    expect(phases()).toEqual(['draft secret', 'public public']);
    expect(execIn(mirror, 'hg', ['log', '--rev', 'heads(not secret())', '--template', '{desc}'])).toBe('public');

    repo.commit('draft 2', { 'greeting.txt': 'draft 2\n' });
    const second = await tried(repo.root);
    expect(second.greeting).toBe('draft 2\n');
    expect(second.stderr).toContain('sent 1 changeset');
    expect(bundleBytes(second.stderr)).toBeLessThan(2048);
    expect(phases()).toEqual(['draft 2 secret', 'draft secret', 'public public']);
    expect(draft).toMatch(/^[0-9a-f]{40}$/);
  });

  it('runs examples/try as its README says: a second try of a one-line change sends a few hundred bytes', async () => {
    const demo = join(box.dir.path, 'try-demo');
    execFileSync('bash', [join(repoRoot, 'examples/try/make-repo.sh'), demo], { env: testVcsEnv(), stdio: 'ignore' });
    const first = await tryIn(demo, ['--wait']);
    expect(first.code, first.stderr).toBe(0);
    writeFileSync(join(demo, 'greeting.txt'), 'hello again\n');
    execIn(demo, 'git', ['commit', '--quiet', '--all', '-m', 'a one-line change']);
    const second = await tryIn(demo, ['--wait']);
    expect(second.code, second.stderr).toBe(0);
    expect(bundleBytes(first.stderr)).toBeGreaterThan(10 * 1024);
    expect(bundleBytes(second.stderr)).toBeLessThan(1024);
  });

  it('refuses, with exit code 2, a directory in no working copy, an unknown revision and a try without a server', async () => {
    const plain = join(box.dir.path, 'plain');
    mkdirSync(plain);
    const outside = await tryIn(plain, []);
    expect(outside.code).toBe(2);
    expect(outside.stderr).toContain('is in no git or Mercurial working copy');

    const repo = new TestRepository('git', join(box.dir.path, 'git-refusals'));
    repo.commit('only', { 'slipway.yml': pipeline(out), 'greeting.txt': 'x\n' });
    const unknown = await tryIn(repo.root, ['-r', 'no-such-revision']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no revision no-such-revision');

    const serverless = await box.run(['try'], testVcsEnv(), repo.root);
    expect(serverless.code).toBe(2);
    expect(serverless.stderr).toContain('slipway try sends to a server');
  });

  it('refuses a corrupt bundle and one whose base the server lacks with git\'s own words, and starts no run', async () => {
    const repo = new TestRepository('git', join(box.dir.path, 'git-lacking'));
    const root = repo.commit('root', { 'slipway.yml': pipeline(out), 'greeting.txt': 'a\n' });
    const base = repo.commit('base', { 'greeting.txt': 'b\n' });
    const tip = repo.commit('tip', { 'greeting.txt': 'c\n' });
    const runsBefore = ((await (await api('/api/v1/runs')).json()) as { runs: unknown[] }).runs.length;

    const corrupt = await api(`/api/v1/tries?vcs=git&repository=${root}&revision=${tip}`, { method: 'POST', body: 'this is no bundle' });
    expect(corrupt.status).toBe(422);
    const corruptError = ((await corrupt.json()) as { error: string }).error;
    expect(corruptError).toMatch(/git says: .*(bundle|header)/);
    expect(corruptError).not.toContain(box.state);

    repo.run(['bundle', 'create', '--quiet', join(box.dir.path, 'thin.bundle'), 'main', `^${base}`]);
    const thin = await api(`/api/v1/tries?vcs=git&repository=${root}&revision=${tip}`, { method: 'POST', body: readFileSync(join(box.dir.path, 'thin.bundle')) });
    expect(thin.status).toBe(422);
    expect(((await thin.json()) as { error: string }).error).toContain('lacks these prerequisite commits');

    expect(((await (await api('/api/v1/runs')).json()) as { runs: unknown[] }).runs).toHaveLength(runsBefore);
  });

  it('takes two users trying at once, each their own revision', async () => {
    const origin = new TestRepository('git', join(box.dir.path, 'shared-origin'));
    origin.commit('shared', { 'slipway.yml': pipeline(out), 'greeting.txt': 'shared\n', 'data.txt': bulk(3) });
    const users = ['ada', 'bob'].map((name) => {
      const clone = join(box.dir.path, `clone-${name}`);
      origin.run(['clone', '--quiet', origin.root, clone]);
      // A clone is a repository like any other once made: init leaves it as it is.
      const repo = new TestRepository('git', clone);
      repo.commit(`${name}'s change`, { 'greeting.txt': `${name}\n` });
      return { name, repo };
    });
    const tokens = await Promise.all(users.map(async ({ name }) => (await box.run(['tokens', 'create', name, '--scope', 'submit'])).stdout.trim()));
    const results = await Promise.all(users.map(({ repo }, i) => tryIn(repo.root, ['--wait', '--json'], tokens[i])));
    for (const [i, result] of results.entries()) {
      expect(result.code, result.stderr).toBe(0);
      const report = JSON.parse(result.stdout) as RunReport;
      expect(readFileSync(join(out, `greeting-${report.run.id}`), 'utf8')).toBe(`${users[i]!.name}\n`);
    }
  });
});

function execIn(cwd: string, command: string, args: string[]): string {
  return execFileSync(command, args, { cwd, env: testVcsEnv(), encoding: 'utf8' });
}
