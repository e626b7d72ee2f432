/**
 * What a try sends: the changesets of a revision the server's mirror lacks, as one git or
 * hg bundle. The CLI and the server agree on the bases first (commonBases), so a second try
 * of a small change sends a few KB whatever the repository's size.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { runVcs, VcsError } from './command.ts';
import type { WorkingCopy } from './working-copy.ts';

/** The most ids one question to the server holds. */
export const candidatesPerQuestion = 256;

/**
 * The newest ancestors of `revision` on its first-parent line that the server holds
 * (`ask` answers which of some ids it holds), and of the tips of the shared branches
 * (`others`: remote-tracking branches, hg's public heads). The server's history is closed
 * under ancestry, so along the first-parent line what it holds is a suffix: a doubling
 * probe, then evenly spaced probes between the newest held and the oldest not held,
 * find the boundary in a few questions of at most `candidatesPerQuestion` ids.
 */
export async function commonBases(line: string[], others: string[], ask: (ids: string[]) => Promise<string[]>): Promise<string[]> {
  if (line.length === 0) return [];
  const probe = new Set<number>([line.length - 1]);
  for (let i = 0; i < line.length && probe.size < candidatesPerQuestion - 64; i = i === 0 ? 1 : i * 2) probe.add(i);
  const tips = others.filter((id) => !line.includes(id)).slice(0, candidatesPerQuestion - probe.size);
  let known = new Set(await ask([...[...probe].map((i) => line[i]!), ...tips]));
  const knownTips = tips.filter((id) => known.has(id));
  // held: the newest index known held; missing: the oldest index known missing before it.
  let held = [...probe].filter((i) => known.has(line[i]!)).reduce((a, b) => Math.min(a, b), line.length);
  let missing = [...probe].filter((i) => i < held && !known.has(line[i]!)).reduce((a, b) => Math.max(a, b), -1);
  while (held < line.length && held - missing > 1) {
    const step = Math.max(1, Math.ceil((held - missing - 1) / candidatesPerQuestion));
    const between: number[] = [];
    for (let i = missing + 1; i < held; i += step) between.push(i);
    known = new Set(await ask(between.map((i) => line[i]!)));
    const newest = between.find((i) => known.has(line[i]!));
    if (newest !== undefined) held = newest;
    missing = between.filter((i) => i < held).reduce((a, b) => Math.max(a, b), missing);
    if (step === 1) break;
  }
  return [...(held < line.length ? [line[held]!] : []), ...knownTips];
}

/** `revision`'s first-parent line, newest first, and the tips of what is shared. */
export async function historyOf(repo: WorkingCopy, revision: string): Promise<{ line: string[]; others: string[] }> {
  if (repo.vcs === 'git') {
    const line = (await runVcs('git', repo.root, ['rev-list', '--first-parent', revision, '--'])).split('\n').filter(Boolean);
    const others = (await runVcs('git', repo.root, ['for-each-ref', '--format=%(objectname)', 'refs/remotes'])).split('\n').filter(Boolean);
    return { line, others: [...new Set(others)] };
  }
  const line = (await runVcs('hg', repo.root, ['log', '--rev', `reverse(_firstancestors(id(${revision})))`, '--template', '{node}\n'])).split('\n').filter(Boolean);
  const others = (await runVcs('hg', repo.root, ['log', '--rev', 'heads(public())', '--template', '{node}\n'])).split('\n').filter(Boolean);
  return { line, others };
}

/** hg's newest public ancestor of `revision` (null in git, which has no phases, or when none is public). */
export async function publicBase(repo: WorkingCopy, revision: string): Promise<string | null> {
  if (repo.vcs === 'git') return null;
  return (await runVcs('hg', repo.root, ['log', '--rev', `max(::id(${revision}) and public())`, '--template', '{node}'])).trim() || null;
}

/**
 * Writes to `file` a bundle of `revision` and its ancestors, less `bases` and theirs.
 * git names a bundle's tips by refs, so the bundle is made in a scratch repository that
 * borrows the working copy's objects (alternates) and has one ref: the user's repository
 * is never written to.
 */
export async function createBundle(repo: WorkingCopy, revision: string, bases: string[], file: string): Promise<void> {
  if (repo.vcs === 'hg') {
    const base = bases.length > 0 ? bases.flatMap((id) => ['--base', id]) : ['--base', 'null'];
    await runVcs('hg', repo.root, ['bundle', '--quiet', ...base, '--rev', revision, '--', file]);
    return;
  }
  const common = (await runVcs('git', repo.root, ['rev-parse', '--git-common-dir'])).trim();
  const objects = join(isAbsolute(common) ? common : join(repo.root, common), 'objects');
  const scratch = mkdtempSync(join(tmpdir(), 'slipway-bundle-'));
  try {
    await runVcs('git', scratch, ['init', '--quiet', '--bare', scratch]);
    writeFileSync(join(scratch, 'objects', 'info', 'alternates'), `${objects}\n`);
    await runVcs('git', scratch, ['update-ref', bundleRef, revision]);
    await runVcs('git', scratch, ['bundle', 'create', '--quiet', file, bundleRef, ...bases.map((id) => `^${id}`)]);
  } catch (error) {
    if (error instanceof VcsError) throw new VcsError('git', ['bundle', 'create'], error.stderr);
    throw error;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** The one ref of a try's git bundle. */
export const bundleRef = 'refs/slipway/try';
