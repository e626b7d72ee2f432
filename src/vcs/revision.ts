/** A revision named by the user (a hash, branch, tag, bookmark, `HEAD~2`, an hg revset), resolved. */
import { runVcs, VcsError } from './command.ts';
import { repositoryName, type WorkingCopy } from './working-copy.ts';

export interface Revision {
  /** The full commit or changeset id. */
  id: string;
  /** git: the branch the revision is the tip of; hg: its bookmark, or else its named branch. */
  branch: string | null;
  /** `Name <email>` as the VCS recorded it. */
  author: string;
  message: string;
  /** Full ids, the first parent first; none for a root, two for a merge. */
  parents: string[];
  /** hg's phase; null in git, which has none. */
  phase: 'public' | 'draft' | 'secret' | null;
}

/** A name that is no revision of the repository, with the VCS's own words. */
export class UnknownRevision extends Error {}

/**
 * The revision `name` names in `repo`; an UnknownRevision when it names none (or, in hg, several).
 * `name` is taken as the user takes it in their own shell: in hg a revset, which may even
 * reach another repository (remote()). A name from anyone else (a client of a server) must
 * be checked to be a full id first.
 */
export async function resolveRevision(repo: WorkingCopy, name: string): Promise<Revision> {
  // A name starting with '-' would reach the VCS as an option.
  if (name === '' || name.startsWith('-')) throw new UnknownRevision(`'${name}' is not a revision name`);
  return repo.vcs === 'git' ? gitRevision(repo.root, name) : hgRevision(repo.root, name);
}

async function gitRevision(root: string, name: string): Promise<Revision> {
  const id = (await named(repositoryName('git', root), name, runVcs('git', root, ['rev-parse', '--verify', '--quiet', `${name}^{commit}`]))).trim();
  // Split as is: a root commit's parents are an empty first field.
  const [parents, author, message] = (await runVcs('git', root, ['log', '-1', '--no-notes', '--format=%P%x00%an <%ae>%x00%B', id, '--'])).split('\0');
  return { id, branch: await gitBranch(root, name, id), author: author!, message: (message ?? '').trim(), parents: parents!.split(' ').filter(Boolean), phase: null };
}

/** The branch `name` is (or the checked-out branch, or any branch) when it points at `id`. */
async function gitBranch(root: string, name: string, id: string): Promise<string | null> {
  const at = (await runVcs('git', root, ['for-each-ref', `--points-at=${id}`, '--format=%(refname)', 'refs/heads', 'refs/remotes'])).split('\n').filter(Boolean);
  const current = (await runVcs('git', root, ['symbolic-ref', '--quiet', 'HEAD']).catch(() => '')).trim();
  const chosen = at.find((ref) => ref === `refs/heads/${name}` || ref === `refs/remotes/${name}`)
    ?? at.find((ref) => ref === current)
    ?? at.find((ref) => ref.startsWith('refs/heads/'))
    ?? at.find((ref) => !ref.endsWith('/HEAD'));
  return chosen?.replace(/^refs\/(heads|remotes)\//, '') ?? null;
}

async function hgRevision(root: string, name: string): Promise<Revision> {
  const ids = (await named(repositoryName('hg', root), name, runVcs('hg', root, ['log', '--rev', name, '--template', '{node}\n']))).split('\n').filter(Boolean);
  if (ids.length !== 1) throw new UnknownRevision(`${name} names ${ids.length === 0 ? 'no revision' : `${ids.length} revisions`} in ${repositoryName('hg', root)}`);
  const id = ids[0]!;
  const fields = (await runVcs('hg', root, ['log', '--rev', id, '--template', '{branch}\\0{bookmarks}\\0{activebookmark}\\0{author}\\0{p1.node}\\0{p2.node}\\0{phase}\\0{desc}'])).split('\0');
  const [branch, bookmarkList, active, author, p1, p2, phase, message] = fields as [string, string, string, string, string, string, Revision['phase'], string];
  const bookmarks = bookmarkList.split(' ').filter(Boolean);
  const bookmark = bookmarks.find((b) => b === name) ?? (active || bookmarks[0]);
  return { id, branch: bookmark ?? branch, author, message: message.trim(), parents: [p1, p2].filter((p) => !/^0+$/.test(p)), phase };
}

/** The VCS's refusal of `name` as an UnknownRevision saying which repository refused it. */
async function named(repository: string, name: string, output: Promise<string>): Promise<string> {
  try {
    return await output;
  } catch (error) {
    if (!(error instanceof VcsError)) throw error;
    throw new UnknownRevision(`no revision ${name} in ${repository}${error.stderr.trim() ? `: ${error.stderr.trim()}` : ''}`);
  }
}
