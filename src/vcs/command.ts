/** Runs git and hg for Slipway: argument arrays, no shell, and a plain, predictable setup. */
import { execFile } from 'node:child_process';

export type Vcs = 'git' | 'hg';

/** A git or hg command that failed, with the VCS's own words. */
export class VcsError extends Error {
  readonly vcs: Vcs;
  readonly args: string[];
  readonly stderr: string;

  constructor(vcs: Vcs, args: string[], stderr: string, cause?: string) {
    super(`${vcs} ${args.join(' ')} failed: ${stderr.trim() || cause || 'no message'}`);
    this.vcs = vcs;
    this.args = args;
    this.stderr = stderr;
  }
}

/**
 * git with neither pager, colour, hooks nor fsmonitor of the user's config (they may prompt,
 * run code or change output); the user's ignore rules and identity stay, as in their shell.
 */
const gitSettings = ['-c', 'core.pager=cat', '-c', 'color.ui=false', '-c', 'core.hooksPath=/dev/null', '-c', 'core.fsmonitor=false', '-c', 'core.quotePath=false'];

/** Output limit: a file list of a large monorepo runs to tens of MB. */
const maxBuffer = 512 * 1024 * 1024;

/** Runs `vcs args` in `cwd`; resolves with stdout, rejects with a VcsError carrying stderr. */
export function runVcs(vcs: Vcs, cwd: string, args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const argv = vcs === 'git' ? [...gitSettings, ...args] : args;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // HGPLAIN: output as documented whatever the user's hgrc says (aliases, formats, pagers).
    HGPLAIN: '1', GIT_TERMINAL_PROMPT: '0', GIT_PAGER: 'cat', PAGER: 'cat', LC_ALL: 'C', LANGUAGE: '',
    ...options.env,
  };
  return new Promise((resolve, reject) => {
    execFile(vcs, argv, { cwd, env, maxBuffer, encoding: 'utf8', windowsHide: true }, (error, stdout, stderr) => {
      if (error) reject(new VcsError(vcs, args, stderr, error.message));
      else resolve(stdout);
    });
  });
}

/** Splits NUL-separated output, dropping the empty end. */
export function nulSeparated(output: string): string[] {
  return output.split('\0').filter((entry) => entry !== '');
}
