/** What a working copy holds that its parent revision does not. */
import { nulSeparated, runVcs } from './command.ts';
import { inRepositoryData, type WorkingCopy } from './working-copy.ts';

export interface UncommittedFile {
  /** Relative to the working copy's root, with '/'. */
  path: string;
  change: 'modified' | 'added' | 'removed' | 'untracked';
}

/** The changed, added, removed and untracked (not ignored) files, by path. */
export async function uncommittedFiles(repo: WorkingCopy): Promise<UncommittedFile[]> {
  const files = repo.vcs === 'git' ? await gitStatus(repo.root) : await hgStatus(repo.root);
  return files.filter((file) => !inRepositoryData(file.path)).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

async function gitStatus(root: string): Promise<UncommittedFile[]> {
  const entries = nulSeparated(await runVcs('git', root, ['status', '--porcelain=v1', '-z', '--untracked-files=all', '--ignore-submodules=none']));
  const files: UncommittedFile[] = [];
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    const code = entry.slice(0, 2);
    files.push({ path: entry.slice(3), change: code === '??' ? 'untracked' : code.includes('A') ? 'added' : code.includes('D') ? 'removed' : 'modified' });
    // A rename or copy is followed by the path it came from.
    if (code.includes('R') || code.includes('C')) i++;
  }
  return files;
}

async function hgStatus(root: string): Promise<UncommittedFile[]> {
  const changes: Record<string, UncommittedFile['change']> = { M: 'modified', A: 'added', R: 'removed', '!': 'removed', '?': 'untracked' };
  return nulSeparated(await runVcs('hg', root, ['status', '--modified', '--added', '--removed', '--deleted', '--unknown', '--template', '{status} {path}\\0']))
    .map((entry) => ({ path: entry.slice(2), change: changes[entry[0]!]! }));
}

/** The files as a short list for a message: `a.c (modified), b.h (untracked)` and how many more. */
export function describeUncommitted(files: UncommittedFile[], shown = 10): string {
  const listed = files.slice(0, shown).map((file) => `${file.path} (${file.change})`).join(', ');
  return files.length > shown ? `${listed} and ${files.length - shown} more` : listed;
}
