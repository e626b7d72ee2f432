import { chmodSync, existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { ensurePrivateDir } from '../config/paths.ts';
import { ensureRunner, runnerWorkRoot, type RunnerUser } from '../providers/runner-user.ts';

export interface ServerRunner {
  /** The user submitted code runs as; undefined: the server's own. */
  runAs?: RunnerUser;
  workRoot: string;
  /** What the server says at start about who runs submitted code. */
  note: string;
}

/**
 * Who runs submitted code (local agents, their tasks, done_if checks) for a server. As root,
 * the runner user: the state directory becomes enterable but not listable, and everything
 * in it private, so the runner reaches its workers' directories and nothing else there.
 * Otherwise the server's own user, and it says so.
 */
export function serverRunner(runAs: string, state: string, paths: { workRoot: string; dbPath: string }): ServerRunner {
  if (process.getuid?.() !== 0) {
    return {
      workRoot: paths.workRoot,
      note: `local workers and done_if checks run as ${userInfo().username}, the server's own user: give submit tokens only to people you would let use this account, or start the server as root to run them as ${runAs} (docs/security.md)`,
    };
  }
  const runner = ensureRunner(runAs);
  process.umask(0o077);
  ensurePrivateDir(state);
  chmodSync(state, 0o711);
  // A store made before, by `slipway run` say, may have been made readable by all.
  for (const file of [paths.dbPath, `${paths.dbPath}-wal`, `${paths.dbPath}-shm`]) if (existsSync(file)) chmodSync(file, 0o600);
  const workRoot = runnerWorkRoot(paths.workRoot, runner);
  return { runAs: runner, workRoot, note: `local workers and done_if checks run as ${runner.name} in ${workRoot}` };
}
