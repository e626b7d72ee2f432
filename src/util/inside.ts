import { lstatSync, readlinkSync, realpathSync, type Stats } from 'node:fs';
import path from 'node:path';

export type Resolved =
  | { kind: 'inside'; path: string; stats: Stats }
  | { kind: 'outside' }
  | { kind: 'missing' };

/** Like the kernel's ELOOP limit. */
const MAX_LINKS = 40;

/**
 * Resolves the relative path `name` under the directory `root` as the kernel would, one
 * component at a time, following links, and stops at the first step that would leave
 * `root`. Nothing outside `root` is ever looked at, so the answer cannot tell anyone
 * whether a file exists elsewhere on the machine (a link in an uploaded tree could
 * otherwise probe the coordinator's disk). The resolved path holds no links.
 */
export function resolveInside(root: string, name: string): Resolved {
  if (name.includes('\0') || path.isAbsolute(name)) return { kind: 'outside' };
  let base: string;
  try {
    base = realpathSync(root);
  } catch {
    return { kind: 'missing' };
  }
  const pending = name.split('/');
  let current = base;
  let stats = lstatSync(base);
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '' || part === '.') continue;
    if (!stats.isDirectory()) return { kind: 'missing' };
    if (part === '..') {
      if (current === base) return { kind: 'outside' };
      current = path.dirname(current);
      stats = lstatSync(current);
      continue;
    }
    const next = path.join(current, part);
    let found: Stats;
    try {
      found = lstatSync(next);
    } catch {
      return { kind: 'missing' };
    }
    if (!found.isSymbolicLink()) {
      current = next;
      stats = found;
      continue;
    }
    if (++links > MAX_LINKS) return { kind: 'missing' };
    const target = readlinkSync(next);
    if (path.isAbsolute(target)) {
      const within = path.relative(base, target);
      if (within === '..' || within.startsWith(`..${path.sep}`) || path.isAbsolute(within)) return { kind: 'outside' };
      current = base;
      stats = lstatSync(base);
      pending.unshift(...within.split(path.sep));
    } else {
      // Relative to the link's own directory, which is `current`.
      pending.unshift(...target.split('/'));
    }
  }
  return { kind: 'inside', path: current, stats };
}
