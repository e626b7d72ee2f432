/**
 * On ssh hosts and hand-started workers a task runs as its agent's uid, and a process may
 * read the memory and /proc files (environment, descriptors) of any dumpable process of its
 * uid: the agent's, which hold the worker's credential. Linux makes a process undumpable when
 * it starts from a program file its user may not read (`would_dump` in fs/exec.c): its /proc
 * files are then root's and only root may trace it. So such an agent runs its node from a
 * file with mode 0100, execute only, re-executing itself (same pid, so still its tasks'
 * parent) when it was started otherwise. An agent started as root drops to its worker's uid
 * instead, which also makes it undumpable (see dropPrivileges); a root agent's tasks are root.
 */
import { chmodSync, copyFileSync, constants, existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Set across the one re-execution, so an agent the kernel would not seal says so once and goes on. */
const triedVariable = 'SLIPWAY_SEAL_TRIED';

/** Whether sealing means anything here: Linux, and a user other than root. */
function sealable(): boolean {
  return process.platform === 'linux' && process.geteuid!() !== 0;
}

/** This process's /proc files are root's: the kernel keeps them, and its memory, from its uid's other processes. */
function sealedFromTasks(): boolean {
  return statSync(`/proc/${process.pid}/environ`).uid !== process.geteuid!();
}

/**
 * Returns at once when this process is sealed, or cannot be; otherwise re-executes it from
 * `node` (made unreadable first) and never returns. `say` hears why an agent stays open.
 */
export function sealOrReexec(node: () => string, say: (line: string) => void): void {
  const tried = process.env[triedVariable] !== undefined;
  delete process.env[triedVariable];
  if (!sealable() || sealedFromTasks()) return;
  if (tried) {
    say('warning: this kernel left the agent readable to its tasks although its node is unreadable: a task could read the worker\'s credential from its memory');
    return;
  }
  let program: string;
  try {
    program = node();
    // A task of an earlier worker, of this same uid, may have made it readable again.
    chmodSync(program, 0o100);
  } catch (error) {
    say(`warning: cannot run from an unreadable copy of node (${(error as Error).message}): a task could read the worker's credential from this process's memory`);
    return;
  }
  process.execve!(program, [program, ...process.execArgv, ...process.argv.slice(1)], { ...process.env, [triedVariable]: '1' });
}

/**
 * A copy of this process's node under `dir`, execute only, made once per node binary. The
 * copy is atomic, so workers starting together never run a half-written one.
 */
export function unreadableNodeCopy(dir: string): string {
  const source = statSync(process.execPath);
  const copy = join(dir, `node-${source.size}-${Math.floor(source.mtimeMs)}`);
  if (existsSync(copy)) return copy;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const part = `${copy}.part.${process.pid}`;
  copyFileSync(process.execPath, part, constants.COPYFILE_FICLONE);
  chmodSync(part, 0o100);
  renameSync(part, copy);
  return copy;
}
