import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAlive, ProcessTree } from '../agent/process-tree.ts';
import type { MachineHandle, Provider, StartRequest } from './provider.ts';

const agentEntry = fileURLToPath(new URL('../agent/main.ts', import.meta.url));

/** Variables a local agent inherits; the rest of the coordinator's environment stays behind. */
const inheritedEnv = ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'SHELL'];

export interface LocalProviderOptions {
  /** Agents cache sources and run tasks under `<workRoot>/<worker id>`. */
  workRoot: string;
  /** How long a stopped agent gets to exit before SIGKILL. */
  killGraceMs?: number;
}

/**
 * Workers as agent processes on this machine. Each agent leads its own process group, so
 * a Ctrl-C at the terminal reaches the coordinator only, which then stops them in order.
 */
export class LocalProvider implements Provider {
  readonly name = 'local';
  readonly #options: LocalProviderOptions;
  readonly #children = new Map<number, ChildProcess>();
  readonly #exitListeners: ((workerId: string, description: string, clean: boolean) => void)[] = [];

  constructor(options: LocalProviderOptions) {
    this.#options = options;
  }

  onExit(listener: (workerId: string, description: string, clean: boolean) => void): void {
    this.#exitListeners.push(listener);
  }

  async start(request: StartRequest): Promise<MachineHandle> {
    const workDir = join(this.#options.workRoot, request.workerId);
    mkdirSync(workDir, { recursive: true, mode: 0o700 });
    mkdirSync(dirname(request.agentLogPath), { recursive: true, mode: 0o700 });
    const log = openSync(request.agentLogPath, 'a', 0o600);
    const env: NodeJS.ProcessEnv = {};
    for (const name of inheritedEnv) if (process.env[name] !== undefined) env[name] = process.env[name];
    Object.assign(env, {
      SLIPWAY_SERVER: request.serverUrl,
      SLIPWAY_REGISTRATION_TOKEN: request.registrationToken,
      SLIPWAY_WORK_DIR: workDir,
    });
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [agentEntry], { env, detached: true, stdio: ['ignore', log, log], cwd: workDir });
    } finally {
      closeSync(log);
    }
    const pid = child.pid;
    if (pid === undefined) {
      const error = await new Promise<Error>((resolve) => child.once('error', resolve));
      throw new Error(`could not start the agent: ${error.message}`);
    }
    this.#children.set(pid, child);
    child.once('exit', (code, signal) => {
      this.#children.delete(pid);
      const description = signal ? `agent process ${pid} killed by ${signal}` : `agent process ${pid} exited with code ${code}`;
      for (const listener of this.#exitListeners) listener(request.workerId, `${description} (see ${request.agentLogPath})`, code === 0);
    });
    return { pid, workDir };
  }

  async stop(machine: MachineHandle): Promise<void> {
    const pid = Number(machine.pid);
    if (!Number.isInteger(pid) || pid <= 1 || !isAlive(pid)) return;
    await new ProcessTree(pid).terminate(this.#options.killGraceMs ?? 5000);
  }

  /** Pids of agents this provider started that are still running. */
  runningPids(): number[] {
    return [...this.#children.keys()];
  }
}
