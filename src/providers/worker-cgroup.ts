/**
 * A cgroup the server hands to a worker that runs as a uid of its own (a root server's
 * runner): the server makes it below its own cgroup, gives it to the worker's uid (the
 * directory and the files a delegate writes, as systemd's Delegate= does) and places the
 * agent in it as soon as it starts. An unprivileged agent could not make cgroups; in this
 * one it keeps each script in a cgroup of its own (agent/task-cgroups.ts).
 */
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ownCgroupDir, removeSubtree } from '../agent/task-cgroups.ts';

const DELEGATED_FILES = ['cgroup.procs', 'cgroup.threads', 'cgroup.subtree_control'];

/** The new cgroup's directory, or undefined where the server cannot make one (not root, no cgroup v2). */
export async function delegateCgroup(workerId: string, owner: { uid: number; gid: number }): Promise<string | undefined> {
  const home = ownCgroupDir();
  if (typeof home !== 'string' || process.getuid?.() !== 0) return undefined;
  const dir = join(home, `slipway-worker-${workerId}`);
  try {
    mkdirSync(dir);
    chownSync(dir, owner.uid, owner.gid);
    for (const file of DELEGATED_FILES) chownSync(join(dir, file), owner.uid, owner.gid);
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
