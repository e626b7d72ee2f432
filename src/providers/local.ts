import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { machineMarker } from '../agent/machine-marker.ts';
import { freshAgentBundle } from './agent-bundle.ts';
import { pidsByMarker, ProcessTree, startTimeOf } from '../agent/process-tree.ts';
import type { FoundMachine, MachineHandle, Provider, StartRequest, StopOptions } from './provider.ts';
import { workerUid, type RunnerUser } from './runner-user.ts';
import { delegateCgroup, placeInCgroup, removeDelegatedCgroup } from './worker-cgroup.ts';
import { unmountUnder } from '../util/mounts.ts';

/** Variables a local agent inherits; the rest of the coordinator's environment stays behind. */
const inheritedEnv = ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'SHELL'];

/** Where local agents mark the prepare scripts they ran: beside the work root, one machine for all. */
export function localPreparedDir(workRoot: string): string {
  return join(dirname(workRoot), 'prepared');
}

export interface LocalProviderOptions {
  /** Agents cache sources and run tasks under `<workRoot>/<worker id>`. */
  workRoot: string;
  /** How long a stopped agent gets to exit before SIGKILL. */
  killGraceMs?: number;
  /** How long agents keep trying to reach a coordinator that went away (default: the agent's own). */
  agentReconnectMs?: number;
  /** The unprivileged user agents run as (a server started as root); default: this process's. */
  runAs?: RunnerUser;
  /** What one worker costs per hour, billed per second, when this machine's time is paid for. */
  hourlyUsd?: number | undefined;
}

/**
 * Workers as agent processes on this machine. Each agent leads its own process group, so
 * a Ctrl-C at the terminal reaches the coordinator only, which then stops them in order.
 *
 * A local "machine" is the agent and everything it started: each carries the machine's
 * marker in its environment (its work directory, unique to this coordinator's state), so
 * a coordinator that restarted can still find, check and stop machines an earlier process
 * started, and tasks orphaned by a killed agent are stopped with it.
 */
export class LocalProvider implements Provider {
  readonly name = 'local';
  readonly onThisMachine = true;
  readonly #options: LocalProviderOptions;
  readonly #children = new Map<number, ChildProcess>();
  readonly #exitListeners: ((workerId: string, description: string, clean: boolean) => void)[] = [];
  readonly #stops = new Map<string, Promise<void>>();

  constructor(options: LocalProviderOptions) {
    this.#options = options;
  }

  onExit(listener: (workerId: string, description: string, clean: boolean) => void): void {
    this.#exitListeners.push(listener);
  }

  hourlyUsd(): number | undefined {
    return this.#options.hourlyUsd;
  }

  async start(request: StartRequest): Promise<MachineHandle> {
    // First, so that nothing is made for an agent that could not start.
    const agentEntry = await freshAgentBundle();
    const workDir = join(this.#options.workRoot, request.workerId);
    const runner = this.#options.runAs;
    const owner = runner && { uid: workerUid(request.workerId), gid: runner.gid };
    if (runner) this.#openWorkRoot();
    mkdirSync(workDir, { recursive: true, mode: 0o700 });
    if (owner) chownSync(workDir, owner.uid, owner.gid);
    // An agent with a uid of its own cannot make cgroups: the server makes one and hands it over.
    const cgroup = owner && await delegateCgroup(request.workerId, owner);
    mkdirSync(dirname(request.agentLogPath), { recursive: true, mode: 0o700 });
    const log = openSync(request.agentLogPath, 'a', 0o600);
    const env: NodeJS.ProcessEnv = {};
    for (const name of inheritedEnv) if (process.env[name] !== undefined) env[name] = process.env[name];
    // The runner has no home of the server's to use, nor its TMPDIR, which may be private.
    if (runner) {
      Object.assign(env, { HOME: workDir, USER: runner.name, LOGNAME: runner.name });
      delete env.TMPDIR;
    }
    Object.assign(env, {
      SLIPWAY_SERVER: request.serverUrl,
      ...(request.serverTrust && { SLIPWAY_SERVER_CERTIFICATE: request.serverTrust.certificate }),
      SLIPWAY_WORK_DIR: workDir,
      [machineMarker]: workDir,
      ...(cgroup && { SLIPWAY_CGROUP: cgroup }),
      // The coordinator's host is one machine for every local worker: it is prepared once, in the state directory.
      // A worker with a uid of its own has a home of its own: what a prepare script did for one is not there for another.
      SLIPWAY_PREPARED_DIR: runner ? join(workDir, '.prepared') : localPreparedDir(this.#options.workRoot),
      ...(this.#options.agentReconnectMs !== undefined && { SLIPWAY_RECONNECT_MS: String(this.#options.agentReconnectMs) }),
    });
    let child: ChildProcess;
    try {
      // The token goes on stdin: the environment stays readable in /proc for the agent's life.
      // An agent of its own uid is started as root and drops to it itself: one that changed its
      // uid is not dumpable, so its tasks (of that uid) cannot read its memory or /proc files.
      child = spawn(process.execPath, [agentEntry], {
        env: owner ? { ...env, SLIPWAY_AGENT_USER: `${owner.uid}:${owner.gid}` } : env, detached: true, stdio: ['pipe', log, log], cwd: workDir,
      });
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(`${request.registrationToken}\n`);
    } finally {
      closeSync(log);
    }
    const pid = child.pid;
    if (pid === undefined) {
      if (cgroup) await removeDelegatedCgroup(cgroup);
      const error = await new Promise<Error>((resolve) => child.once('error', resolve));
      throw new Error(`could not start the agent: ${error.message}`);
    }
    // At once: the agent forks nothing before it has loaded its code, and waits to be placed.
    if (cgroup) placeInCgroup(cgroup, pid);
    this.#children.set(pid, child);
    const hourlyUsd = this.#options.hourlyUsd;
    const machine: MachineHandle = {
      pid, start: startTimeOf(pid) ?? '', workDir, ...(cgroup && { cgroup }), ...(hourlyUsd !== undefined && { hourly_usd: hourlyUsd, billing: 'per-second' }),
    };
    child.once('exit', (code, signal) => {
      this.#children.delete(pid);
      const description = signal ? `agent process ${pid} killed by ${signal}` : `agent process ${pid} exited with code ${code}`;
      const notify = (): void => {
        for (const listener of this.#exitListeners) listener(request.workerId, `${description} (see ${request.agentLogPath})`, code === 0);
      };
      // An agent that ended by itself may have had nobody left to tell (its credential ends
      // with its run), and then nobody stops its machine: what its tasks left behind, in its
      // cgroup or under its marker, ends here first. Any other exit is lost, and stopped.
      if (code === 0) void this.stop(machine).catch(() => undefined).then(notify);
      else notify();
    });
    return machine;
  }

  /** One stop per machine at a time: a second caller waits for the stop in flight. */
  stop(machine: MachineHandle, options: StopOptions = {}): Promise<void> {
    const key = String(machine.workDir ?? machine.pid);
    const inFlight = this.#stops.get(key);
    if (inFlight) return inFlight;
    const stopping = this.#stop(machine, options).finally(() => this.#stops.delete(key));
    this.#stops.set(key, stopping);
    return stopping;
  }

  async #stop(machine: MachineHandle, options: StopOptions): Promise<void> {
    const graceMs = this.#options.killGraceMs ?? 5000;
    const agent = this.#agentPid(machine);
    if (agent !== undefined && options.drained) {
      const exitBy = Date.now() + graceMs;
      while (this.#agentPid(machine) !== undefined && Date.now() < exitBy) await sleep(25);
    }
    const workDir = String(machine.workDir ?? '');
    const marker = this.#owns(workDir) ? { name: machineMarker, value: workDir } : undefined;
    await new ProcessTree(this.#agentPid(machine), { marker }).terminate(graceMs);
    const cgroup = String(machine.cgroup ?? '');
    if (marker && basename(cgroup) === `slipway-worker-${basename(workDir)}`) await removeDelegatedCgroup(cgroup);
    // An agent running as root mounts its tasks' trees and unmounts them as it stops; one killed leaves them.
    if (marker) {
      // Not ours to unmount when the server is not root: `slipway purge` says so, and nothing is deleted through a mount.
      const unmounted = await unmountUnder(workDir).then(() => true, () => false);
      // The machine is gone: its directory (source cache, task trees, inputs) goes with it, or every worker would leave one.
      if (unmounted) await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  async status(machine: MachineHandle): Promise<'running' | 'gone'> {
    return this.#agentPid(machine) === undefined ? 'gone' : 'running';
  }

  /** Machines found by their marker: agents and whatever their tasks left behind. */
  async inventory(): Promise<FoundMachine[]> {
    const machines = new Map<string, FoundMachine>();
    for (const [pid, workDir] of pidsByMarker(machineMarker, (value) => this.#owns(value))) {
      const found = machines.get(workDir);
      if (!found) machines.set(workDir, { workerId: basename(workDir), machine: { pid, start: startTimeOf(pid) ?? '', workDir } });
    }
    return [...machines.values()];
  }

  /**
   * Lets this process end while agents it started still run: they outlive a coordinator
   * that stops, and find it again when it comes back.
   */
  release(): void {
    for (const child of this.#children.values()) child.unref();
  }

  /** Pids of agents this provider started that are still running. */
  runningPids(): number[] {
    return [...this.#children.keys()];
  }

  /** The agent's pid if that process still runs and is the one started (not a recycled pid). */
  #agentPid(machine: MachineHandle): number | undefined {
    const pid = Number(machine.pid);
    if (!Number.isInteger(pid) || pid <= 1) return undefined;
    const start = startTimeOf(pid);
    if (start === undefined) return undefined;
    if (this.#children.has(pid)) return pid;
    return machine.start !== undefined && machine.start !== '' && machine.start === start ? pid : undefined;
  }

  /**
   * Fails, saying what is in the way, when the runner could not start an agent: node and the
   * agent's code must be open to it (not under `/root`, say).
   */
  async checkRunAs(): Promise<void> {
    const runner = this.#options.runAs;
    if (!runner) return;
    const agentEntry = await freshAgentBundle();
    const probe = 'const fs = require("node:fs"); fs.accessSync(process.argv[1], fs.constants.R_OK);';
    const result = spawnSync(process.execPath, ['-e', probe, agentEntry], { uid: workerUid('probe'), gid: runner.gid, cwd: '/', env: { PATH: process.env.PATH }, encoding: 'utf8' });
    if (result.status === 0) return;
    const reason = result.error?.message ?? result.stderr.split('\n').find((line) => line.startsWith('Error:')) ?? result.stderr.trim();
    throw new Error(`local workers run as ${runner.name} ([server] run_as), who cannot run ${process.execPath} on ${agentEntry}: ${reason}. Install Slipway where every user may read it (such as /opt/slipway)`);
  }

  /** The work root stays the server's, enterable but not listable: a task does not learn the other workers' names. */
  #openWorkRoot(): string {
    const root = this.#options.workRoot;
    mkdirSync(root, { recursive: true });
    chmodSync(root, 0o711);
    return root;
  }

  /** A work directory of this provider's, so a marker of another coordinator's is never touched. */
  #owns(workDir: string): boolean {
    return workDir !== '' && dirname(workDir) === this.#options.workRoot && /^w-[0-9a-z]+$/.test(basename(workDir));
  }
}
