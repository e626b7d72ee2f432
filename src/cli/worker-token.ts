import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { UsageError } from './usage-error.ts';

/**
 * Names the private file through which `slipway worker` hands its token to itself across
 * the re-exec below. It holds a path, not a secret, and the file is gone before any task.
 */
const handoffVariable = 'SLIPWAY_WORKER_HANDOFF';
const handoffPrefix = 'slipway-worker-';

export interface TokenSources { token?: string; tokenFile?: string }

/**
 * The token `slipway worker` registers with, read so that none of its tasks can read it.
 * Tasks are its children: `/proc/$PPID/cmdline` shows `--token`, and `/proc/$PPID/environ`
 * keeps the environment the process was started with whatever it deletes later. So when
 * the token came from either, the process re-executes itself (same pid, so the same
 * parent for its tasks) without `--token` and without `SLIPWAY_TOKEN`, the token waiting in
 * a file only this user can read, removed once read. This call then never returns.
 */
export function workerToken(sources: TokenSources): string {
  const handoff = process.env[handoffVariable];
  if (handoff !== undefined) {
    delete process.env[handoffVariable];
    return takeHandoff(handoff);
  }
  if (sources.token !== undefined && sources.tokenFile !== undefined) throw new UsageError('give --token or --token-file, not both');
  const token = sources.tokenFile !== undefined ? readTokenFile(sources.tokenFile) : sources.token ?? process.env.SLIPWAY_TOKEN;
  if (!token) {
    throw new UsageError('a token is needed: --token-file PATH or SLIPWAY_TOKEN, holding a run\'s join token (slipway run --no-provision prints it) or a worker token (slipway tokens create NAME --scope worker)');
  }
  if (sources.token === undefined && process.env.SLIPWAY_TOKEN === undefined) return token;
  reexecWithout(token);
}

/** The first line of a file that no one but its owner may read or change. */
function readTokenFile(path: string): string {
  let mode: number;
  let text: string;
  try {
    mode = statSync(path).mode;
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`--token-file ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
  if ((mode & 0o077) !== 0) {
    throw new UsageError(`--token-file ${path} is open to other users (mode ${(mode & 0o777).toString(8)}): chmod 600 ${path}`);
  }
  const token = text.split(/\r?\n/, 1)[0]!.trim();
  if (!token) throw new UsageError(`--token-file ${path}: its first line is empty; it should hold the token`);
  return token;
}

function reexecWithout(token: string): never {
  if (typeof process.execve !== 'function') {
    throw new UsageError('on this system slipway worker cannot drop a token from its environment or command line: give it with --token-file PATH');
  }
  const dir = mkdtempSync(join(tmpdir(), handoffPrefix));
  const file = join(dir, 'handoff');
  writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  const env: NodeJS.ProcessEnv = { ...process.env, [handoffVariable]: file };
  delete env.SLIPWAY_TOKEN;
  try {
    return process.execve(process.execPath, [process.execPath, ...process.execArgv, process.argv[1]!, ...withoutTokenFlag(process.argv.slice(2))], env);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** The arguments without `--token VALUE` / `--token=VALUE` (`--token-file` stays). */
function withoutTokenFlag(args: string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--') { kept.push(...args.slice(i)); break; }
    if (args[i] === '--token') { i++; continue; }
    if (args[i]!.startsWith('--token=')) continue;
    kept.push(args[i]!);
  }
  return kept;
}

/** Reads the handed-off token and removes its file and the private directory around it. */
function takeHandoff(file: string): string {
  const dir = dirname(file);
  if (dirname(dir) !== tmpdir() || !basename(dir).startsWith(handoffPrefix) || basename(file) !== 'handoff') {
    throw new UsageError(`${handoffVariable} is set by slipway worker for itself only, not to '${file}'`);
  }
  try {
    return readFileSync(file, 'utf8').trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
