import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The unprivileged user a server runs submitted code as: local agents, their tasks and
 * `done_if` checks. Its workers own their directories and nothing of the server's, so a
 * task cannot read the state directory, the store, the tokens or other runs' logs. Each
 * worker runs under a uid of its own in the runner's group (see `workerUid`), so one
 * worker's tasks cannot read another's tree, environment or memory either.
 */
export interface RunnerUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** The user called `name` as the system knows it, or undefined when there is none. */
export function lookupRunner(name: string): RunnerUser | undefined {
  const found = spawnSync('getent', ['passwd', name], { encoding: 'utf8' });
  if (found.status !== 0) return undefined;
  const [, , uid, gid, , home] = found.stdout.trim().split(':');
  return { name, uid: Number(uid), gid: Number(gid), home: home ?? '/' };
}

/** The runner user, made as a system account without login or password when it does not exist yet. */
export function ensureRunner(name: string): RunnerUser {
  const existing = lookupRunner(name);
  if (existing) return refusePrivileged(existing);
  try {
    execFileSync('useradd', ['--system', '--user-group', '--create-home', '--home-dir', `/var/lib/${name}`, '--shell', '/usr/sbin/nologin', name], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? '').trim();
    throw new Error(`could not create the user ${name} that local workers run as ([server] run_as): ${stderr || (error as Error).message}`);
  }
  const made = lookupRunner(name);
  if (!made) throw new Error(`useradd made no user ${name}`);
  return made;
}

function refusePrivileged(user: RunnerUser): RunnerUser {
  if (user.uid === 0 || user.gid === 0) throw new Error(`[server] run_as names ${user.name}, which is root or in root's group: local workers must run as an unprivileged user`);
  return user;
}

/** Where workers' uids start: far above the uids of accounts (60000) and of subordinate ranges given to containers. */
const firstWorkerUid = 0x5c000000;
const workerUids = 0x01000000;

/**
 * The uid a worker's agent and tasks run as: its own, taken from its id, with no account
 * behind it. Two workers sharing one would need ids that agree in 24 bits.
 */
export function workerUid(workerId: string): number {
  return firstWorkerUid + (createHash('sha256').update(workerId).digest().readUInt32BE(0) % workerUids);
}

/** Whether `user` may enter `path` and every directory above it. */
export function canReach(path: string, user: RunnerUser): boolean {
  for (let dir = path; ; dir = dirname(dir)) {
    let mode: number;
    let owner: number;
    let group: number;
    try {
      ({ mode, uid: owner, gid: group } = statSync(dir));
    } catch {
      // Not made yet: it will be, by the server, with a mode the runner can enter.
      if (dir === dirname(dir)) return true;
      continue;
    }
    const bit = owner === user.uid ? 0o100 : group === user.gid ? 0o010 : 0o001;
    if ((mode & bit) === 0) return false;
    if (dir === dirname(dir)) return true;
  }
}

/**
 * Where the runner's workers go: the configured work root when the runner can reach it,
 * else a directory of the runner's home named for it (a root server's state is under
 * `/root`, which no other user may enter), so two coordinators never share one.
 */
export function runnerWorkRoot(configured: string, user: RunnerUser): string {
  // The root itself the provider opens to workers: it is the server's, whatever made it first.
  if (canReach(dirname(configured), user)) return configured;
  return join(user.home, `workers-${createHash('sha256').update(configured).digest('hex').slice(0, 12)}`);
}
