/**
 * How a script's bash is started: by the agent itself (node's spawn, below) or by a small
 * spawner process (see spawner.ts). Either way the script leads a session of its
 * own, reads nothing, writes stdout to a pipe the agent reads, stderr nowhere (its prelude
 * joins it to stdout) and finds its prelude on descriptor 3.
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';

export interface LaunchRequest {
  /** The program and its arguments; the program is looked up in `env.PATH`. */
  argv: string[];
  cwd: string;
  env: Record<string, string>;
}

export interface LaunchedScript {
  pid: number;
  /** How the script's bash ended; `lost` when nobody can tell (its launcher died). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; lost?: string }>;
  /** When the output pipe closed: every process that held it is gone. */
  outputClosed: Promise<void>;
  /** Reads no more of the output (something that escaped may hold the pipe forever). */
  stopReading(): void;
}

export interface ScriptLauncher {
  /** Starts the script; rejects with why it could not (no such directory, no bash). */
  launch(request: LaunchRequest, onOutput: (bytes: Buffer) => void): Promise<LaunchedScript>;
}

const windows = process.platform === 'win32';

/**
 * The agent forks itself for each script. Simple and everywhere, but a fork copies the
 * agent's page tables, and every page it writes afterwards faults once: with several
 * agents on a machine, that costs more than the script `true` itself.
 */
export class DirectLauncher implements ScriptLauncher {
  readonly #prelude: number | undefined;

  /** `prelude`: an open file the scripts get as descriptor 3 (none on Windows). */
  constructor(prelude: number | undefined) {
    this.#prelude = prelude;
  }

  async launch(request: LaunchRequest, onOutput: (bytes: Buffer) => void): Promise<LaunchedScript> {
    const [program, ...args] = request.argv;
    const child = spawn(program!, args, {
      cwd: request.cwd,
      env: request.env,
      // Its own process group (and session), so one kill reaches everything that stays in it.
      detached: !windows,
      windowsHide: true,
      stdio: ['ignore', 'pipe', 'ignore', this.#prelude ?? 'ignore'],
    });
    const output = child.stdout as Readable; // stdio[1] is 'pipe'
    output.on('data', onOutput);
    const outputClosed = new Promise<void>((resolve) => output.once('close', resolve));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const startError = await new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', resolve);
    });
    if (startError || child.pid === undefined) throw startError ?? new Error('no pid');
    return { pid: child.pid, exited, outputClosed, stopReading: () => output.destroy() };
  }
}
