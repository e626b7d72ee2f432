/**
 * A server started as root starts its local agents as root, each told the uid it runs
 * as, and the agent drops to it before anything else. A process that changes its uid is
 * no longer dumpable: the tasks it starts, which share that uid, can neither read its
 * memory nor its /proc files (environment, descriptors, maps), where the worker's
 * credential lives, nor trace it. Started under the uid directly, it would be theirs to read.
 */
export function dropPrivileges(user: string): void {
  const match = /^(\d+):(\d+)$/.exec(user);
  if (!match) throw new Error(`SLIPWAY_AGENT_USER must be "uid:gid", not "${user.slice(0, 40)}"`);
  const [uid, gid] = [Number(match[1]), Number(match[2])];
  if (uid === 0) throw new Error('SLIPWAY_AGENT_USER names root: an agent never runs its tasks as root this way');
  process.setgroups!([gid]);
  process.setgid!(gid);
  process.setuid!(uid);
}
