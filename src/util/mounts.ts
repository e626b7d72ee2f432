import { execFile } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A mount point as /proc/self/mountinfo writes it: space, tab, newline and backslash as octal escapes. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * The mount points in `mountinfo` at `dir` or below it, deepest first. The table holds
 * paths with no symbolic link in them: `dir` is resolved likewise.
 */
export function mountPointsUnder(mountinfo: string, dir: string): string[] {
  let top = resolve(dir);
  try {
    top = realpathSync(top);
  } catch {
    // Gone already: nothing can be mounted there.
  }
  const points = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const field = line.split(' ')[4];
    if (field === undefined) continue;
    const point = unescape(field);
    if (point === top || point.startsWith(`${top}/`)) points.add(point);
  }
  return [...points].sort((a, b) => b.length - a.length);
}

/**
 * Unmounts whatever is mounted at `dir` or below it, deepest first, so `rm -rf dir` can
 * remove it: what a task or a killed agent left mounted (an agent running as root mounts
 * each task's tree, see SourceCache). A mount still in use is detached (`umount -l`): it
 * leaves the directory at once and goes when its last user does. Fails when one cannot be
 * unmounted (not root). Reads the mount table only (no process) when nothing is mounted there.
 */
export async function unmountUnder(dir: string): Promise<void> {
  for (const point of mountPointsUnder(mountTable(), dir)) await unmount(point);
}

/**
 * /proc/self/mountinfo, '' where there is none. Read in this thread: an agent running as root
 * reads it after every task, and a read through the thread pool costs several round trips.
 */
function mountTable(): string {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return '';
  }
}

/** Unmounts `point`, detaching it when it is still in use. */
export async function unmount(point: string): Promise<void> {
  try {
    await run('umount', [point]);
  } catch {
    try {
      await run('umount', ['-l', point]);
    } catch (error) {
      const stderr = String((error as { stderr?: string }).stderr ?? '').trim();
      throw new Error(`could not unmount ${point}: ${stderr || (error as Error).message}`);
    }
  }
}
