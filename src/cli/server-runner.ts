import { chmodSync, existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { ensurePrivateDir } from '../config/paths.ts';
import type { SlipwayConfig } from '../config/schema.ts';
import { ensureRunner, lookupRunner, runnerWorkRoot, type RunnerUser } from '../providers/runner-user.ts';

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

/** Where local workers of this machine may be: `slipway run`'s work root, and a root server's if its runner worked elsewhere. */
export function localWorkRoots(config: SlipwayConfig): string[] {
  const configured = config.providers.local.work_dir;
  const runner = process.getuid?.() === 0 ? lookupRunner(config.server.run_as) : undefined;
  const elsewhere = runner && runnerWorkRoot(configured, runner);
  return elsewhere && elsewhere !== configured && existsSync(elsewhere) ? [configured, elsewhere] : [configured];
}
