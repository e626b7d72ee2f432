/** Real git and Mercurial repositories in temporary directories, for tests of revisions. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Vcs } from '../../src/vcs/command.ts';

/** A repository made by running its VCS's commands, with a fixed author and no user config. */
export class TestRepository {
  readonly vcs: Vcs;
  readonly root: string;

  constructor(vcs: Vcs, root: string) {
    this.vcs = vcs;
    this.root = root;
    mkdirSync(root, { recursive: true });
    this.run(vcs === 'git' ? ['init', '--quiet', '--initial-branch=main'] : ['init']);
  }

  /** Runs the VCS in the repository (or in `cwd` inside it) and gives its stdout. */
  run(args: string[], cwd = this.root): string {
    return execFileSync(this.vcs, args, { cwd, env: testVcsEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  write(files: Record<string, string>): void {
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(dirname(join(this.root, name)), { recursive: true });
      writeFileSync(join(this.root, name), text, { mode: name.endsWith('.sh') ? 0o755 : 0o644 });
    }
  }

  /** Writes `files`, commits every change in the tree as `message`, and gives the new full id. */
  commit(message: string, files: Record<string, string> = {}): string {
    this.write(files);
    if (this.vcs === 'git') {
      this.run(['add', '--all']);
      this.run(['commit', '--quiet', '--allow-empty', '-m', message]);
      return this.run(['rev-parse', 'HEAD']).trim();
    }
    this.run(['commit', '--addremove', '-m', message]);
    return this.run(['log', '-r', '.', '-T', '{node}']).trim();
  }
}

/** An environment where neither the user's nor the system's VCS config changes a test. */
export function testVcsEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env, HGPLAIN: '1', HGRCPATH: '', HGUSER: 'Test Author <author@example.com>',
    GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'Test Author', GIT_AUTHOR_EMAIL: 'author@example.com', GIT_COMMITTER_NAME: 'Test Author', GIT_COMMITTER_EMAIL: 'author@example.com',
  };
}
