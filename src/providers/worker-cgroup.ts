/**
 * A cgroup the server hands to a worker that runs as a uid of its own (a root server's
 * runner): the server makes it below its own cgroup, gives it to the worker's uid (the
 * directory and the files a delegate writes, as systemd's Delegate= does) and places the
 * agent in it as soon as it starts. An unprivileged agent could not make cgroups; in this
 * one it keeps each script in a cgroup of its own (agent/task-cgroups.ts).
 */
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CgroupTree } from '../agent/cgroup-tree.ts';
import { giveCgroup, ownCgroupDir, removeSubtree } from '../agent/task-cgroups.ts';

/**
 * A worker's cgroup with no process in it this long after it was made is left over: its
 * agent is placed in it within milliseconds, and a server that was killed, or stopped
 * without stopping its workers, never removed it.
 */
const ABANDONED_AFTER_MS = 60_000;

/** The new cgroup's directory, or undefined where the server cannot make one (not root, no cgroup v2). */
export async function delegateCgroup(
  workerId: string, owner: { uid: number; gid: number }, options: { abandonedAfterMs?: number } = {},
): Promise<string | undefined> {
  const home = ownCgroupDir();
  if (typeof home !== 'string' || process.getuid?.() !== 0) return undefined;
  sweepAbandoned(home, options.abandonedAfterMs ?? ABANDONED_AFTER_MS);
  const dir = join(home, `slipway-worker-${workerId}`);
  try {
    mkdirSync(dir);
    giveCgroup(dir, owner);
    return dir;
  } catch {
    await removeSubtree(dir);
    return undefined;
  }
}

/** Moves a process (the agent, just started) into the cgroup; false if it cannot be. */
export function placeInCgroup(dir: string, pid: number): boolean {
  try {
    writeFileSync(join(dir, 'cgroup.procs'), String(pid));
    return true;
  } catch {
    return false;
  }
}

/** Ends whatever is still in the worker's cgroup and removes it. */
export async function removeDelegatedCgroup(dir: string): Promise<void> {
  await removeSubtree(dir, { kill: true });
}

/** Removes the empty worker cgroups that servers sharing this cgroup left behind. */
function sweepAbandoned(home: string, abandonedAfterMs: number): void {
  let names: string[];
  try {
    names = readdirSync(home).filter((name) => name.startsWith('slipway-worker-'));
  } catch {
    return;
  }
  for (const name of names) {
    const dir = join(home, name);
    try {
      if (Date.now() - statSync(dir).ctimeMs < abandonedAfterMs || new CgroupTree(dir).populated()) continue;
    } catch {
      continue; // removed meanwhile
    }
    void removeSubtree(dir);
  }
}
