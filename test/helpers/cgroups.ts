import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ownCgroupDir, removeSubtree } from '../../src/agent/task-cgroups.ts';

/**
 * Removes cgroups named `names` beside this process (below its own cgroup, where the
 * servers and agents it starts make theirs) that their maker could not remove: a server
 * killed with SIGKILL, an agent that gave up root. What is still in them is killed first.
 */
export async function removeCgroupsLeft(names: string[]): Promise<void> {
  const home = ownCgroupDir();
  if (typeof home !== 'string') return;
  for (const name of names) if (existsSync(join(home, name))) await removeSubtree(join(home, name), { kill: true });
}
