import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import { Sandbox } from '../helpers/cli.ts';
import { processesUnder, waitFor } from '../helpers/processes.ts';
import { TestRepository, testVcsEnv } from '../helpers/repositories.ts';
import { freePort, startServer } from '../helpers/server-process.ts';
import { keyPair, SshdHost } from '../helpers/sshd.ts';

/** A pipeline whose one task writes down the text of greeting.txt, by run. */
function pipeline(out: string): string {
  return `
name: fetched
activities:
  builder: {}
steps:
  look:
    activity: builder
    env: { OUT: ${out} }
    run: cp greeting.txt "$OUT/greeting-$SLIPWAY_RUN"
`;
}

describe('slipway run --repo, and a server dropping expired tries', () => {
  const box = new Sandbox();
  const daemons: ChildProcess[] = [];
  let out: string;
  let repos: string;
  let server: Awaited<ReturnType<typeof startServer>>;

  let sshd: SshdHost;

  beforeAll(async () => {
    out = box.sharedDir('out');
    repos = join(box.dir.path, 'repos');
    mkdirSync(join(box.config, 'slipway'), { recursive: true });
    // Tries expire at once here, so the server's collection is seen within a test.
    writeFileSync(join(box.config, 'slipway', 'config.toml'), `[server]\nfile_remotes = ["${repos}"]\ntry_expiry = "1s"\n`);
    // The server's git logs in to the test sshd with a key of its own, as a server's user would with ~/.ssh.
    const client = keyPair(join(box.dir.path, 'client_ed25519'));
    sshd = await SshdHost.start('remote', join(box.dir.path, 'sshd'), client.pub);
    const sshCommand = `ssh -i ${client.key} -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR`;
    server = await startServer(box, 0, ['--health-interval', '1s'], { GIT_SSH_COMMAND: sshCommand });
  });
  afterAll(async () => {
    sshd?.cutOff();
    for (const daemon of daemons) daemon.kill('SIGTERM');
    await Promise.all(daemons.map((daemon) => new Promise((resolve) => (daemon.exitCode === null ? daemon.once('exit', resolve) : resolve(null)))));
    server.server.kill('SIGTERM');
    await server.server.result;
    expect(processesUnder(box.dir.path)).toEqual([]);
    box.cleanup();
  });

  /** A daemon serving repositories on loopback, once `ready` says it answers. */
  const serve = async (command: string, args: string[], ready: () => Promise<boolean>) => {
    const daemon = spawn(command, args, { env: testVcsEnv(), stdio: 'ignore' });
    daemons.push(daemon);
    await waitFor(ready, 20_000, `${command} to serve`);
  };
  const answers = (command: string, args: string[]) => new Promise<boolean>((resolve) => {
    spawn(command, args, { env: testVcsEnv(), stdio: 'ignore' }).on('close', (code) => resolve(code === 0));
  });
  const runFrom = async (repo: string, revision: string) => {
    const result = await box.run(['run', 'slipway.yml', '--server', server.url, '--repo', repo, '--revision', revision, '--json'], { SLIPWAY_TOKEN: server.admin });
    return { ...result, report: result.stdout.trim() ? JSON.parse(result.stdout) as RunReport : undefined };
  };
  const greeting = (report: RunReport) => readFileSync(join(out, `greeting-${report.run.id}`), 'utf8');

  it('runs a branch and an older commit of a git daemon remote', async () => {
    const repo = new TestRepository('git', join(repos, 'served.git'));
    const first = repo.commit('first', { 'slipway.yml': pipeline(out), 'greeting.txt': 'first\n' });
    repo.commit('second', { 'greeting.txt': 'second\n' });
    const port = await freePort();
    await serve('git', ['daemon', '--reuseaddr', '--export-all', `--base-path=${repos}`, '--listen=127.0.0.1', `--port=${port}`, repos],
      () => answers('git', ['ls-remote', `git://127.0.0.1:${port}/served.git`]));
    const url = `git://127.0.0.1:${port}/served.git`;

    const tip = await runFrom(url, 'main');
    expect(tip.code, tip.stderr).toBe(0);
    expect(greeting(tip.report!)).toBe('second\n');
    expect(tip.report!.run.source).toMatchObject({ vcs: 'git', repository: url, branch: 'main', message: 'second', try: false });

    const older = await runFrom(url, first);
    expect(older.code, older.stderr).toBe(0);
    expect(greeting(older.report!)).toBe('first\n');
    expect(older.report!.run.source).toMatchObject({ revision: first, author: 'Test Author <author@example.com>' });
  });

  it('runs a revision of an hg serve remote', async () => {
    const repo = new TestRepository('hg', join(box.dir.path, 'hg-served'));
    const id = repo.commit('only', { 'slipway.yml': pipeline(out), 'greeting.txt': 'from hg\n' });
    const port = await freePort();
    await serve('hg', ['serve', '--repository', repo.root, '--address', '127.0.0.1', '--port', String(port)],
      () => answers('hg', ['identify', `http://127.0.0.1:${port}/`]));

    const run = await runFrom(`http://127.0.0.1:${port}/`, 'default');
    expect(run.code, run.stderr).toBe(0);
    expect(greeting(run.report!)).toBe('from hg\n');
    expect(run.report!.run.source).toMatchObject({ vcs: 'hg', revision: id });
  });

  it('runs a branch of a git remote on an ssh host', async () => {
    const repo = new TestRepository('git', join(sshd.workDir, 'over-ssh'));
    repo.commit('over ssh', { 'slipway.yml': pipeline(out), 'greeting.txt': 'over ssh\n' });
    execFileSync('chown', ['-R', `${sshd.login.uid}:${sshd.login.gid}`, repo.root]);

    const run = await runFrom(`ssh://${sshd.user}@127.0.0.1:${sshd.port}${repo.root}`, 'main');
    expect(run.code, run.stderr).toBe(0);
    expect(greeting(run.report!)).toBe('over ssh\n');
    expect(run.report!.run.source).toMatchObject({ vcs: 'git', branch: 'main', message: 'over ssh' });
  });

  it('drops a try and its commits from the mirror once [server] try_expiry has passed', async () => {
    const repo = new TestRepository('git', join(box.dir.path, 'tried'));
    const root = repo.commit('tried', { 'slipway.yml': pipeline(out), 'greeting.txt': 'tried\n' });
    const tried = await box.run(['try', '--server', server.url, '--wait'], { SLIPWAY_TOKEN: server.admin, ...testVcsEnv() }, repo.root);
    expect(tried.code, tried.stderr).toBe(0);
    const mirror = join(box.state, 'slipway', 'mirrors', `git-${root}`);
    const refs = () => execFileSync('git', ['for-each-ref', '--format=%(refname)'], { cwd: mirror, env: testVcsEnv(), encoding: 'utf8' }).trim();
    const present = () => {
      try {
        execFileSync('git', ['cat-file', '-e', `${root}^{commit}`], { cwd: mirror, stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    };
    // Its ref goes first, then its commits with the collection's git gc: the test waits for both.
    await waitFor(() => refs() === '' && !present(), 20_000, 'the expired try and its commits to leave the mirror');
  });

  it('fetches a file:// remote in [server] file_remotes, and refuses one elsewhere or a revision the remote lacks with the VCS\'s words', async () => {
    const repo = new TestRepository('git', join(repos, 'local'));
    repo.commit('local', { 'slipway.yml': pipeline(out), 'greeting.txt': 'local\n' });
    const run = await runFrom(`file://${repo.root}`, 'main');
    expect(run.code, run.stderr).toBe(0);
    expect(greeting(run.report!)).toBe('local\n');

    const elsewhere = new TestRepository('git', join(box.dir.path, 'elsewhere'));
    elsewhere.commit('secret', { 'slipway.yml': pipeline(out), 'greeting.txt': 'secret\n' });
    const refused = await runFrom(`file://${elsewhere.root}`, 'main');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('file_remotes');

    const missing = await runFrom(`file://${repo.root}`, 'no-such-branch');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('has no branch, tag or commit no-such-branch');
    const unreachable = await runFrom(`git://127.0.0.1:${await freePort()}/gone.git`, 'main');
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain('git says: fatal: unable to connect to 127.0.0.1');
  });
});
