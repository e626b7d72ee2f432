/**
 * An agent started as root may run as another user: a server started as root starts its
 * local agents as root, each told the uid it runs as, and the agent drops to it before
 * anything else; an EC2 instance's agent, root to run the machine's prepare and init,
 * drops to its task user before its first task. A process that changes its uid is no
 * longer dumpable: the tasks it starts, which share that uid, can neither read its memory
 * nor its /proc files (environment, descriptors, maps), where the worker's credential
 * lives, nor trace it. Started under the uid directly, it would be theirs to read.
 */
import { userInfo } from 'node:os';

export interface Owner {
  uid: number;
  gid: number;
}

/** `text` as "uid:gid", a user other than root. */
export function ownerOf(text: string): Owner {
  const match = /^(\d+):(\d+)$/.exec(text);
  if (!match) throw new Error(`must be "uid:gid", not "${text.slice(0, 40)}"`);
  const [uid, gid] = [Number(match[1]), Number(match[2])];
  if (uid === 0) throw new Error('names root: an agent never runs its tasks as root this way');
  return { uid, gid };
}

export function dropPrivileges({ uid, gid }: Owner): void {
  process.setgroups!([gid]);
  process.setgid!(gid);
  process.setuid!(uid);
}

/** After dropPrivileges, the home and name its scripts inherit: the user's, not root's. */
export function takeUsersHome(env: NodeJS.ProcessEnv): void {
  const user = userInfo();
  Object.assign(env, { HOME: user.homedir, USER: user.username, LOGNAME: user.username });
}
