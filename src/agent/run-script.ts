/**
 * Runs one script (a task, a done_if check, init or cleanup) the way the pipeline file
 * promises — `bash -eo pipefail` in the source tree — and makes sure that when it is
 * over, for whatever reason, nothing it started is still running.
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { formatDuration } from '../pipeline/duration.ts';
import type { Script } from '../pipeline/types.ts';
import type { CgroupTree } from './cgroup-tree.ts';
import { machineMarker } from './machine-marker.ts';
import { ProcessTree } from './process-tree.ts';
import { DirectLauncher, type LaunchedScript, type ScriptLauncher } from './script-launcher.ts';
import type { TaskCgroups } from './task-cgroups.ts';

/** A file in the working directory (relative to it) or inline text. */
export type ScriptSource = Script;

export interface ScriptRun {
  script: ScriptSource;
  /** The working directory (holds the source tree). */
  cwd: string;
  /** Merged over a minimal base environment, not the agent's own (see baseEnv). */
  env: Record<string, string>;
  timeoutMs: number | null;
  /** Aborting cancels the script. */
  signal?: AbortSignal;
  /** stdout and stderr interleaved, UTF-8 decoded (a character split across reads is kept whole). */
  onOutput: (chunk: string) => void;
  /** Time between SIGTERM and SIGKILL. */
  killGraceMs?: number;
  /** How long to wait for the output pipe once the script's processes are gone (see below). */
  pipeWaitMs?: number;
  /** Where the script's processes are kept, when the agent has cgroups; otherwise they are found through /proc. */
  cgroups?: TaskCgroups;
  /** What starts the script's bash; by default the agent forks itself (DirectLauncher). */
  launcher?: ScriptLauncher;
}

export interface ScriptResult {
  outcome: 'succeeded' | 'failed' | 'timed_out' | 'cancelled';
  exitCode: number | null;
  signal: string | null;
  /** For people: "exit code 3", "timed out after 2m", "killed by SIGSEGV", "cancelled", ... */
  error: string | null;
  /**
   * How long the script ran, from asking for its start to seeing its exit (what starting and
   * running a process costs, without the agent's work before and after); null when it never started.
   */
  scriptMs: number | null;
}

const DEFAULT_KILL_GRACE_MS = 5000;
/**
 * Without cgroups, how often to look for new descendants, so one that leaves the group is
 * still known: often at first, when a script starts its processes, then less and less.
 */
const FIRST_TRACK_MS = 25;
const MAX_TRACK_MS = 2000;
/** How long to wait for the output pipe after everything is killed (see runScript). */
const PIPE_WAIT_MS = 500;
/** Set to a fresh value for each script, to find processes that escaped the tree. */
const MARKER_VARIABLE = 'SLIPWAY_SCRIPT_ID';

/**
 * The script's bash first sources this, as its $BASH_ENV: it joins stderr to stdout on one
 * pipe, so their lines stay in the order the script wrote them, closes the descriptor it
 * came on and unsets BASH_ENV, so no shell the script starts sources it again. One process
 * per script, the script itself never spliced into any text. With a cgroup, it first joins
 * the one whose `cgroup.procs` is $SLIPWAY_CGROUP_PROCS: everything the script starts is
 * born there.
 */
const PRELUDE = [
  'exec 2>&1 3<&-',
  'if [ -n "${SLIPWAY_CGROUP_PROCS-}" ]; then echo $$ >"$SLIPWAY_CGROUP_PROCS" || exit 125; fi',
  'unset BASH_ENV SLIPWAY_CGROUP_PROCS',
  '',
].join('\n');
/**
 * The prelude as an open, already deleted file: each script gets it as fd 3, and nothing is
 * left to clean up. It is made beside the script's working directory, in the worker's own
 * directory, so that an agent killed between making and deleting it leaves it where the
 * worker's end removes it. Readable by all (it holds nothing secret): bash opens /dev/fd/3
 * anew, as the script's user, which is not the agent's once an agent started as root has
 * handed its tasks to their user (see dropPrivileges).
 */
let preludeFd: number | undefined;

export function prelude(near: string): number {
  if (preludeFd === undefined) {
    const dir = mkdtempSync(join(near, '.slipway-prelude-'));
    const file = join(dir, 'prelude.sh');
    writeFileSync(file, PRELUDE);
    // Not through writeFileSync's mode, which the umask narrows (the bootstrap's is 077).
    chmodSync(file, 0o444);
    preludeFd = openSync(file, 'r');
    rmSync(dir, { recursive: true });
  }
  return preludeFd;
}

/**
 * Git for Windows' bash gets the same as a launcher that `exec`s the real interpreter
 * (same pid): the script arrives as arguments ("$@").
 */
const WINDOWS_LAUNCHER = 'exec 2>&1; exec bash -eo pipefail "$@"';

/**
 * On Windows (Git for Windows' bash) there are no process groups or sessions, and a pid is
 * soon reused once its process ended: the script's tree is ended only while it runs.
 */
const windows = process.platform === 'win32';
/** What programs on Windows need of the environment besides PATH: without SystemRoot, even sockets fail. */
const WINDOWS_ENV = [
  'SystemRoot', 'SystemDrive', 'windir', 'ComSpec', 'PATHEXT', 'TEMP', 'TMP', 'USERPROFILE', 'APPDATA', 'LOCALAPPDATA',
  'ProgramData', 'ProgramFiles', 'ProgramFiles(x86)', 'CommonProgramFiles', 'COMPUTERNAME', 'USERNAME',
  'NUMBER_OF_PROCESSORS', 'PROCESSOR_ARCHITECTURE',
];

export async function runScript(run: ScriptRun): Promise<ScriptResult> {
  let startedAt: number | undefined;
  let exitedAt: number | undefined;
  const result = (
    outcome: ScriptResult['outcome'],
    exitCode: number | null,
    signal: string | null,
    error: string | null,
  ): ScriptResult => ({
    outcome, exitCode, signal, error,
    scriptMs: startedAt === undefined ? null : Math.round((exitedAt ?? performance.now()) - startedAt),
  });

  if (run.signal?.aborted) return result('cancelled', null, null, 'cancelled');

  const marker = { name: MARKER_VARIABLE, value: randomUUID() };
  // `--` ends bash's options, so a script path or text starting with "-" is not one.
  const scriptArgs = run.script.kind === 'file' ? ['--', run.script.path] : ['-c', '--', run.script.text];
  const cgroup = newCgroup(run.cgroups);
  const env = { ...baseEnv(), ...run.env, [marker.name]: marker.value };
  const launcher = run.launcher ?? new DirectLauncher(windows ? undefined : prelude(dirname(run.cwd)));
  const decoder = new StringDecoder('utf8');
  const emit = (text: string): void => {
    if (text !== '') run.onOutput(text);
  };
  let launched: LaunchedScript;
  const launchAt = performance.now();
  try {
    launched = await launcher.launch({
      argv: ['bash', ...windows ? ['-c', WINDOWS_LAUNCHER, 'bash', '-eo', 'pipefail', ...scriptArgs] : ['-eo', 'pipefail', ...scriptArgs]],
      cwd: run.cwd,
      env: windows ? env : { ...env, BASH_ENV: '/dev/fd/3', ...cgroup && { SLIPWAY_CGROUP_PROCS: cgroup.procsFile } },
    }, (bytes) => emit(decoder.write(bytes)));
  } catch (error) {
    cgroup?.remove();
    return result('failed', null, null, `could not start bash in ${run.cwd}: ${(error as Error).message}`);
  }
  startedAt = launchAt;
  const exit = launched.exited.then((end) => {
    exitedAt = performance.now();
    return end;
  });

  const graceMs = run.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const tree = cgroup ?? new ProcessTree(launched.pid, { marker });
  const stopTracking = tree instanceof ProcessTree ? trackWithBackoff(tree) : () => undefined;
  let stopReason: 'timed_out' | 'cancelled' | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (reason: 'timed_out' | 'cancelled'): void => {
    if (stopReason || exitedAt !== undefined) return;
    stopReason = reason;
    stopping = tree.terminate(graceMs);
  };
  const timer = run.timeoutMs === null ? undefined : setTimeout(() => stop('timed_out'), run.timeoutMs);
  const onAbort = (): void => stop('cancelled');
  run.signal?.addEventListener('abort', onAbort);
  if (run.signal?.aborted) onAbort();

  try {
    const { code, signal, lost } = await exit;
    // Even after a normal exit, whatever the script left running (`sleep 1000 &`, a
    // daemon it started) is stopped too: the next task on this worker starts clean,
    // and nothing keeps holding the output pipe. Not on Windows, where taskkill of an
    // ended root's pid could end whoever has the pid now.
    await (stopping ?? (windows ? undefined : tree.terminate(graceMs)));
    // Without cgroups, a process that escaped every way of finding it may still hold the
    // pipe open; give the last output a moment, not forever. Once the script's processes
    // are gone the pipe closes at once, so a clean exit never waits here.
    await within(launched.outputClosed, run.pipeWaitMs ?? PIPE_WAIT_MS);
    launched.stopReading();
    emit(decoder.end());

    if (stopReason === 'timed_out') {
      return result('timed_out', code, signal, `timed out after ${formatDuration(Math.round(run.timeoutMs ?? 0))}`);
    }
    if (stopReason === 'cancelled') return result('cancelled', code, signal, 'cancelled');
    if (lost) return result('failed', null, null, lost);
    if (code === 0) return result('succeeded', 0, null, null);
    if (code !== null) return result('failed', code, null, `exit code ${code}`);
    return result('failed', null, signal, `killed by ${signal}`);
  } finally {
    stopTracking();
    clearTimeout(timer);
    run.signal?.removeEventListener('abort', onAbort);
    cgroup?.remove();
  }
}

/** A cgroup for the script, or none (then its processes are found through /proc). */
function newCgroup(cgroups: TaskCgroups | undefined): CgroupTree | undefined {
  try {
    return cgroups?.script();
  } catch {
    return undefined;
  }
}

/** Refreshes the tree at growing intervals while the script runs; returns how to stop. */
function trackWithBackoff(tree: ProcessTree): () => void {
  let wait = FIRST_TRACK_MS;
  let timer: NodeJS.Timeout;
  const tick = (): void => {
    tree.refresh();
    wait = Math.min(wait * 2, MAX_TRACK_MS);
    timer = setTimeout(tick, wait);
  };
  timer = setTimeout(tick, wait);
  return () => clearTimeout(timer);
}

/**
 * What every script starts from, before its own variables: enough to find tools and
 * write temporary files, and the machine's marker. Nothing else of the agent's environment
 * is passed on, because it may hold the agent's credentials.
 */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: homedir(),
    LANG: process.env.LANG ?? 'C.UTF-8',
    TMPDIR: tmpdir(),
  };
  for (const name of ['USER', 'LOGNAME', 'TZ', machineMarker, ...windows ? WINDOWS_ENV : []]) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Resolves when `promise` does or after `ms`, whichever is first. */
async function within(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([promise, timeout]);
  clearTimeout(timer);
}
