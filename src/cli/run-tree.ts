/** The source tree a `slipway run` takes: the pipeline's directory as it is, or as a revision has it. */
import { existsSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import type { SourceOrigin } from '../engine/report.ts';
import { describeUncommitted, uncommittedFiles } from '../vcs/dirty.ts';
import { exportRevision } from '../vcs/export.ts';
import { resolveRevision, UnknownRevision, type Revision } from '../vcs/revision.ts';
import { treeFiles } from '../vcs/tree-files.ts';
import { findWorkingCopy, type WorkingCopy } from '../vcs/working-copy.ts';
import { sourceLine } from './summary.ts';
import { UsageError } from './usage-error.ts';

export interface RunTree {
  /** The pipeline file to read: the user's, or its copy in the exported revision. */
  file: string;
  /** The directory packed: the pipeline's. */
  dir: string;
  /** The files of `dir` to pack; null for all of it. */
  files: string[] | null;
  /** Where it comes from, as the run records it; null for a plain directory. */
  origin: SourceOrigin | null;
  /** What the user should know of the tree: where it comes from and what was left out; null for a plain directory. */
  summary: string | null;
  /** Removes the exported revision, if any. */
  remove(): void;
}

/**
 * The tree for pipeline `file`: with `revision`, that revision of the working copy holding
 * it, exported (uncommitted files are left out, and said); without, the working tree as the
 * VCS sees it (ignored files and .git/.hg left out), or a plain directory whole.
 */
export async function runTree(file: string, revision?: string): Promise<RunTree> {
  // Real paths, as the VCS gives its root; a directory missing here may still be in a revision.
  const dir = existsSync(dirname(resolve(file))) ? realpathSync(dirname(resolve(file))) : dirname(resolve(file));
  const repo = await findWorkingCopy(dir);
  if (revision !== undefined) return revisionTree(file, dir, repo, revision);
  // A missing directory is the pipeline loader's to report, naming the file.
  if (!repo || !existsSync(dir)) return { file, dir, files: null, origin: null, summary: null, remove: () => undefined };
  // A repository with no commit yet has no parent revision.
  const noParent = (error: unknown) => { if (error instanceof UnknownRevision) return null; throw error; };
  const [tree, parent] = await Promise.all([treeFiles(repo, dir), resolveRevision(repo, repo.vcs === 'git' ? 'HEAD' : '.').catch(noParent)]);
  // The pipeline file goes even when ignored: the run reads it from the tree, as it was read here.
  const pipelineFile = basename(file);
  const origin: SourceOrigin = { vcs: repo.vcs, repository: repo.root, revision: null, branch: parent?.branch ?? null, base: parent?.id ?? null, author: null, message: null, try: false };
  return {
    file, dir, files: tree.files.includes(pipelineFile) ? tree.files : [...tree.files, pipelineFile], origin,
    summary: `${sourceLine({ digest: null, ...origin })}, ${tree.ignored} ignored ${tree.ignored === 1 ? 'path' : 'paths'} left out`,
    remove: () => undefined,
  };
}

async function revisionTree(file: string, dir: string, repo: WorkingCopy | null, name: string): Promise<RunTree> {
  if (!repo) throw new UsageError(`--revision ${name}: ${dir} is in no git or Mercurial working copy`);
  let revision: Revision;
  try {
    revision = await resolveRevision(repo, name);
  } catch (error) {
    if (error instanceof UnknownRevision) throw new UsageError(`--revision ${name}: ${error.message}`);
    throw error;
  }
  const under = relative(repo.root, dir);
  const exported = mkdtempSync(join(tmpdir(), 'slipway-revision-'));
  const remove = () => rmSync(exported, { recursive: true, force: true });
  try {
    await exportRevision(repo, revision.id, exported);
    const copy = join(exported, under, basename(file));
    if (!existsSync(copy)) throw new UsageError(`--revision ${name}: revision ${revision.id.slice(0, 12)} has no ${join(under, basename(file))}`);
    const inTree = under === '' ? '' : `${under.split(sep).join('/')}/`;
    const left = (await uncommittedFiles(repo)).filter((f) => f.path.startsWith(inTree));
    const origin: SourceOrigin = { vcs: repo.vcs, repository: repo.root, revision: revision.id, branch: revision.branch, base: null, author: revision.author, message: revision.message, try: false };
    return {
      file: copy, dir: dirname(copy), files: null, origin,
      summary: sourceLine({ digest: null, ...origin })
        + (left.length > 0 ? `\nuncommitted changes are left out, only ${revision.id.slice(0, 12)} as committed runs: ${describeUncommitted(left)}` : ''),
      remove,
    };
  } catch (error) {
    remove();
    throw error;
  }
}
