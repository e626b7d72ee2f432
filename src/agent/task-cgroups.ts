/**
 * The agent's cgroup v2 subtree, where each script it runs gets a cgroup of its own:
 *
 *   <the agent's cgroup>/slipway-agent-<pid>/agent       the agent itself
 *   <the agent's cgroup>/slipway-agent-<pid>/script-<n>  one per script it runs
 *
 * The agent moves itself into `agent`, which proves it may move processes here (the
 * kernel checks the common ancestor) and makes the whole subtree its own: a script's
 * launcher moves from `agent` to its `script-<n>`, both below a directory the agent
 * created. A subtree whose agent is gone (its pid free, its `agent` empty) belonged to one that died: the next
 * agent kills what its scripts left and removes it.
 *
 * Where this cannot be set up (no cgroup v2, no right to create or move), open() says why
 * and the caller finds processes through /proc instead.
 */
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CgroupTree } from './cgroup-tree.ts';
import type { Owner } from './drop-privileges.ts';

const SUBTREE = /^slipway-agent-\d+$/;

export class TaskCgroups {
  /** The cgroup the agent started in, where it returns on close(). */
  readonly #home: string;
  readonly #root: string;
  #next = 0;

  private constructor(home: string, root: string) {
    this.#home = home;
    this.#root = root;
  }

  /** The agent's subtree, or why there is none. Call once per agent. */
  static async open(): Promise<TaskCgroups | { unavailable: string }> {
    if (process.platform !== 'linux') return { unavailable: `no cgroups on ${process.platform}` };
    const home = ownCgroupDir();
    if (typeof home !== 'string') return home;
    await sweepAbandoned(home);
    const root = join(home, `slipway-agent-${process.pid}`);
    try {
      mkdirSync(join(root, 'agent'), { recursive: true });
      if (!existsSync(join(root, 'cgroup.kill'))) {
        new CgroupTree(join(root, 'agent')).remove();
        new CgroupTree(root).remove();
        return { unavailable: 'the kernel has no cgroup.kill (Linux 5.14 or later is needed)' };
      }
      writeFileSync(join(root, 'agent', 'cgroup.procs'), String(process.pid));
    } catch (error) {
      new CgroupTree(join(root, 'agent')).remove();
      new CgroupTree(root).remove();
      return { unavailable: `cannot set up a cgroup under ${home}: ${(error as Error).message}` };
    }
    return new TaskCgroups(home, root);
  }

  /** Where the scripts' cgroups are. */
  get path(): string {
    return this.#root;
  }

  /**
   * Gives the subtree to `owner`, which the agent is about to become: it then makes the
   * scripts' cgroups itself, and their launchers, of that uid, move into them (the kernel
   * asks for the destination's and the common ancestor's cgroup.procs, not the source's).
   */
  handOver(owner: Owner): void {
    giveCgroup(this.#root, owner);
  }

  /** A new, empty cgroup for one script. */
  script(): CgroupTree {
    const path = join(this.#root, `script-${++this.#next}`);
    mkdirSync(path);
    return new CgroupTree(path);
  }

  /** Back to the cgroup the agent came from; the subtree goes once its scripts' processes have. */
  async close(): Promise<void> {
    try {
      writeFileSync(join(this.#home, 'cgroup.procs'), String(process.pid));
    } catch {
      return; // The home went away: the next agent here removes the subtree.
    }
    await removeSubtree(this.#root);
  }
}

/** The files a delegate of a cgroup writes, as systemd's Delegate= gives them. */
const DELEGATED_FILES = ['cgroup.procs', 'cgroup.threads', 'cgroup.subtree_control'];

/** Gives the cgroup `dir` to `owner`: it may make cgroups below it and move its processes between them. */
export function giveCgroup(dir: string, owner: Owner): void {
  chownSync(dir, owner.uid, owner.gid);
  for (const file of DELEGATED_FILES) chownSync(join(dir, file), owner.uid, owner.gid);
}

/**
 * The directory of the agent's own cgroup: the cgroup2 mount that holds it (one line of
 * /proc/self/mountinfo) joined with its path in /proc/self/cgroup ("0::/its/path").
 */
export function ownCgroupDir(): string | { unavailable: string } {
  let path: string | undefined;
  let mounts: string;
  try {
    path = /^0::(\/.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1];
    mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch (error) {
    return { unavailable: `cannot read /proc: ${(error as Error).message}` };
  }
  if (path === undefined) return { unavailable: 'no cgroup v2 hierarchy (this process is not in one)' };
  for (const line of mounts.split('\n')) {
    // "<id> <parent> <dev> <root> <mount point> <options> [optional fields] - <fs type> <source> <options>"
    const [before, after] = line.split(' - ');
    if (!before || !after?.startsWith('cgroup2 ')) continue;
    const [, , , root, mountPoint] = before.split(' ');
    if (root === undefined || mountPoint === undefined) continue;
    const unescaped = mountPoint.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
    if (root === '/') return join(unescaped, path);
    if (path === root || path.startsWith(`${root}/`)) return join(unescaped, path.slice(root.length));
  }
  return { unavailable: 'no cgroup v2 file system is mounted' };
}

/**
 * Subtrees of agents that are gone (no process has the pid in the name, and their `agent`
 * cgroup is empty): their scripts' leftovers are killed.
 */
async function sweepAbandoned(home: string): Promise<void> {
  let names: string[];
  try {
    names = readdirSync(home).filter((name) => SUBTREE.test(name));
  } catch {
    return;
  }
  for (const name of names) {
    const root = join(home, name);
    // An agent setting its subtree up is alive before it is in `agent`: both must be gone.
    if (existsSync(`/proc/${name.slice('slipway-agent-'.length)}`) || new CgroupTree(join(root, 'agent')).populated()) continue;
    await removeSubtree(root, { kill: true });
  }
}

/**
 * Removes a subtree, its cgroups below first (an agent started by a script of this one
 * keeps its own there), killing every member first when `kill`.
 */
export async function removeSubtree(root: string, options: { kill?: boolean } = {}): Promise<void> {
  const tree = new CgroupTree(root);
  if (options.kill) await tree.kill();
  let names: string[];
  try {
    names = readdirSync(root, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
  } catch {
    return;
  }
  for (const name of names) await removeSubtree(join(root, name));
  tree.remove();
}

/** The agent's cgroups if it can have them, and a line for the worker's log that says which way scripts are tracked. */
export async function openTaskCgroups(placedIn?: string): Promise<{ cgroups?: TaskCgroups; note: string }> {
  if (placedIn !== undefined) await placement(placedIn);
  const opened = await TaskCgroups.open();
  if (opened instanceof TaskCgroups) return { cgroups: opened, note: `each script runs in a cgroup of its own under ${opened.path}` };
  return { note: `scripts' processes are found through /proc, as cgroups cannot be used: ${opened.unavailable}` };
}

/**
 * Waits (briefly) for the server to place this process in the cgroup it made for it: it
 * does right after starting the agent, which has not yet loaded its code by then.
 */
async function placement(dir: string): Promise<void> {
  const giveUpAt = Date.now() + 2000;
  for (let wait = 1; ownCgroupDir() !== dir && Date.now() < giveUpAt; wait = Math.min(wait * 2, 50)) {
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}
