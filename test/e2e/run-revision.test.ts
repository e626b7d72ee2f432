import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import { Sandbox } from '../helpers/cli.ts';
import { processesUnder } from '../helpers/processes.ts';
import { TestRepository, testVcsEnv } from '../helpers/repositories.ts';
import { startServer } from '../helpers/server-process.ts';

/** A pipeline whose one task writes down the files of its tree, a file's text and its revision variables. */
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
  });
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
    for (const where of [[], ['--server', server.url, '--token', server.admin]]) {
      const { report, stderr } = await run([file, ...where]);
      expect(seen(report)).toEqual({ word: 'edited', files: ['.gitignore', 'kept.txt', 'new.txt', 'slipway.yml'] });
      expect(stderr).toContain(`source: working tree of git repository ${repo.root} (main at ${head.slice(0, 12)}), 2 ignored paths left out`);
    }
  });

  it('runs a committed revision as that revision has it, and names the uncommitted files left out', async () => {
    const repo = new TestRepository('hg', join(box.dir.path, 'hg-repo'));
    const older = repo.commit('the older one', { 'slipway.yml': lookingPipeline(out, 'older'), 'data.txt': '1\n' });
    repo.commit('the newer one', { 'slipway.yml': lookingPipeline(out, 'newer'), 'data.txt': '2\n', 'more.txt': 'm\n' });
    repo.write({ 'slipway.yml': lookingPipeline(out, 'uncommitted'), 'untracked.txt': 'u\n' });
    const file = join(repo.root, 'slipway.yml');
    for (const where of [[], ['--server', server.url, '--token', server.admin]]) {
      const { report, stderr } = await run([file, '--revision', older.slice(0, 8), ...where]);
      expect(seen(report)).toEqual({ word: 'older', files: ['data.txt', 'slipway.yml'] });
      expect(stderr).toContain(`source: revision ${older.slice(0, 12)} (default) of Mercurial repository ${repo.root}: the older one`);
      expect(stderr).toContain(`uncommitted changes are left out, only ${older.slice(0, 12)} as committed runs: slipway.yml (modified), untracked.txt (untracked)`);
    }
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
