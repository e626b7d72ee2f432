/** Finding the git or hg working copy a directory belongs to. */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { runVcs, type Vcs } from './command.ts';

/** Whether `path` ('/'-separated) lies in a repository's own data, which no tree of files includes. */
export function inRepositoryData(path: string): boolean {
  return path.split('/').some((part) => part === '.git' || part === '.hg');
}

/** `git repository /src/app`, `Mercurial repository /src/app`: a repository as messages name it. */
export function repositoryName(vcs: Vcs, root: string): string {
  return `${vcs === 'git' ? 'git' : 'Mercurial'} repository ${root}`;
}

export interface WorkingCopy {
  vcs: Vcs;
  /** The working copy's top directory, absolute. */
  root: string;
}

/**
 * The working copy holding `dir`, or null for a plain directory. The nearest `.git` or `.hg`
 * up from `dir` decides (a Mercurial repository inside a git one is Mercurial's), and the
 * VCS itself then names the root, so a git worktree or submodule is found as git sees it.
 */
export async function findWorkingCopy(dir: string): Promise<WorkingCopy | null> {
  for (let at = resolve(dir); ; at = dirname(at)) {
    if (existsSync(join(at, '.hg'))) return { vcs: 'hg', root: (await runVcs('hg', at, ['root'])).trim() };
    if (existsSync(join(at, '.git'))) return { vcs: 'git', root: (await runVcs('git', at, ['rev-parse', '--show-toplevel'])).trim() };
    if (dirname(at) === at) return null;
  }
}
