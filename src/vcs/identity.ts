/** A repository's identity: the same for every clone of it, whatever its branches or heads. */
import { runVcs } from './command.ts';
import type { WorkingCopy } from './working-copy.ts';

/**
 * The identity of the repository `revision` belongs to: the full id of its first commit.
 * git: the parentless commit at the end of `revision`'s first-parent chain. A history with
 * several roots (another project merged in) is the history the others were merged into,
 * so merging an older project later does not change the identity. hg: the revision 0 of
 * that history, the lowest-numbered ancestor of `revision` (revision 0 itself unless
 * unrelated histories were pulled together).
 */
export async function repositoryIdentity(repo: WorkingCopy, revision: string): Promise<string> {
  // `revision` goes into an hg revset as it is: callers pass a full id (resolveRevision's).
  const id = repo.vcs === 'git'
    ? (await runVcs('git', repo.root, ['rev-list', '--first-parent', '--max-parents=0', '--end-of-options', `${revision}^{commit}`, '--'])).trim().split('\n')[0]!
    : (await runVcs('hg', repo.root, ['log', '--rev', `min(::(${revision}))`, '--template', '{node}'])).trim();
  if (!/^[0-9a-f]{40}$/.test(id)) throw new Error(`${repo.vcs} repository ${repo.root} has no first commit reachable from ${revision}`);
  return id;
}

