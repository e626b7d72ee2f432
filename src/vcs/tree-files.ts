/** The files of a working tree that the VCS does not ignore: what the user works on. */
import { relative, sep } from 'node:path';
import { nulSeparated, runVcs } from './command.ts';
import { inRepositoryData, type WorkingCopy } from './working-copy.ts';

export interface TreeFiles {
  /** Tracked and untracked files under the directory, relative to it, with '/'; never inside .git or .hg. */
  files: string[];
  /** How many ignored paths were left out (git counts an ignored directory once, hg each file in it). */
  ignored: number;
}

/** The files under `dir` (inside `repo`) that .gitignore/.hgignore leave in, as they are on disk. */
export async function treeFiles(repo: WorkingCopy, dir: string): Promise<TreeFiles> {
  const { files, ignored } = repo.vcs === 'git' ? await gitFiles(dir) : await hgFiles(repo.root, dir);
  return { files: files.filter((file) => !inRepositoryData(file)).sort(), ignored: ignored.length };
}

async function gitFiles(dir: string): Promise<{ files: string[]; ignored: string[] }> {
  // Paths come relative to `dir`; a tracked file deleted on disk is listed as cached and as deleted.
  const listed = nulSeparated(await runVcs('git', dir, ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', '.']));
  const deleted = new Set(nulSeparated(await runVcs('git', dir, ['ls-files', '-z', '--deleted', '--', '.'])));
  const ignored = nulSeparated(await runVcs('git', dir, ['ls-files', '-z', '--others', '--ignored', '--exclude-standard', '--directory', '--', '.']));
  // An untracked directory git lists whole ('nested/') is another repository, not part of this tree.
  return { files: [...new Set(listed)].filter((file) => !deleted.has(file) && !file.endsWith('/')), ignored };
}

async function hgFiles(root: string, dir: string): Promise<{ files: string[]; ignored: string[] }> {
  const under = relative(root, dir).split(sep).join('/');
  const pattern = under ? ['--', `path:${under}`] : [];
  const status = (which: string[]) => runVcs('hg', root, ['status', ...which, '--template', '{path}\\0', ...pattern])
    .then((output) => nulSeparated(output).map((path) => (under ? path.slice(under.length + 1) : path)));
  return { files: await status(['--clean', '--modified', '--added', '--unknown']), ignored: await status(['--ignored']) };
}
