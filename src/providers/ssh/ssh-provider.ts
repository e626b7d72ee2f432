import { HttpConnection } from '../../agent/http-request.ts';
import { isLoopbackHost, isLoopbackUrl, remoteCoordinatorHint } from '../../api/worker-url.ts';
import type { FoundMachine, MachineHandle, Provider, StartRequest, StopOptions } from '../provider.ts';
import { SshConnections, type SshHost } from './connections.ts';
import { PinnedHostKeys } from './known-hosts.ts';
import { inventoryScript, launchScript, removeFileScript, statusScript, stopScript, surveyScript, type AgentProcess, type HostFile } from './remote-scripts.ts';

interface StatusQuestion {
  agent: AgentProcess;
  resolve: (state: 'running' | 'gone' | 'unknown') => void;
}

/** What one host holds of Slipway's now, or why it could not be asked. */
export interface HostSurvey {
  host: SshHost;
  machines: FoundMachine[];
  files: HostFile[];
  error?: string;
}

/** How long a started worker counts against its host after its start, until the store lists its handle. */
const placedMemoryMs = 5_000;
/**
 * After a host could not be reached, health checks take it as unreachable for this long
 * instead of each waiting out a connection timeout per worker.
 */
const unreachableMs = 30_000;

export interface SshProviderOptions {
  hosts: SshHost[];
  /** Slipway's own known_hosts file. */
  knownHosts: string;
  /** Handles of the ssh machines the store counts as live, this process's or an earlier one's. */
  liveMachines: () => Promise<MachineHandle[]>;
  /** How long a stopped agent gets to exit before SIGKILL. */
  killGraceMs?: number;
}

/**
 * Workers on hosts you already have. A worker goes to the host with the most room under
 * its max_workers; the host is reached over SSH with a key, its host key pinned on first
 * use, and gets the agent by the coordinator's bootstrap, so it needs nothing but sh,
 * coreutils and curl or wget. A "machine" is the agent's session on that host.
 */
export class SshProvider implements Provider {
  readonly name = 'ssh';
  readonly #options: SshProviderOptions;
  readonly #ssh: SshConnections;
  /** Workers being started, and started a moment ago, by host: the store does not list them yet. */
  readonly #placed = new Map<string, { host: string; until: number }>();
  readonly #unreachableUntil = new Map<string, number>();
  /** Status questions waiting for this turn to end, by host. */
  readonly #statusBatches = new Map<string, StatusQuestion[]>();

  constructor(options: SshProviderOptions) {
    this.#options = options;
    this.#ssh = new SshConnections(new PinnedHostKeys(options.knownHosts));
  }

  async start(request: StartRequest): Promise<MachineHandle> {
    const live = await this.#options.liveMachines();
    // Hosts that could not be reached lately are left out while others have room.
    const now = Date.now();
    const tried = new Set(this.#options.hosts.filter((h) => (this.#unreachableUntil.get(h.name) ?? 0) > now).map((h) => h.name));
    if (tried.size === this.#options.hosts.length) tried.clear();
    const failures: string[] = [];
    for (let host = this.#emptiest(live, tried); host; host = this.#emptiest(live, tried)) {
      tried.add(host.name);
      // Counted at once, before anything is awaited, so starts in parallel never overfill a host.
      this.#placed.set(request.workerId, { host: host.name, until: Infinity });
      try {
        const machine = await this.#startOn(host, request);
        this.#placed.set(request.workerId, { host: host.name, until: Date.now() + placedMemoryMs });
        return machine;
      } catch (error) {
        this.#placed.delete(request.workerId);
        failures.push(`${host.name}: ${(error as Error).message}`);
      }
    }
    if (failures.length === 0) throw new Error(`every ssh host that answers has its max_workers running (${this.#options.hosts.map((h) => `${h.name}: ${h.max_workers}`).join(', ')})`);
    throw new Error(`no ssh host could start a worker: ${failures.join('; ')}`);
  }

  /** Hosts reached at a loopback address are this machine, which reaches loopback too. */
  unreachableFrom(serverUrl: string): string | undefined {
    if (!isLoopbackUrl(serverUrl)) return undefined;
    const remote = this.#options.hosts.filter((host) => !isLoopbackHost(host.address));
    if (remote.length === 0) return undefined;
    return `ssh host ${remote[0]!.name} (${remote[0]!.address}) cannot reach a coordinator at ${serverUrl}, which only this machine can: ${remoteCoordinatorHint}`;
  }

  async stop(machine: MachineHandle, options: StopOptions = {}): Promise<void> {
    const host = this.#host(machine);
    const workerId = String(machine.workerId);
    if (!host) return;
    const grace = this.#options.killGraceMs ?? 5000;
    const script = stopScript(workerId, host.work_dir, Number(machine.pid), String(machine.start), grace, options.drained ?? false);
    const stopped = await this.#ssh.exec(host, 'sh -s', script, 2 * grace + 60_000);
    if (stopped.code !== 0) throw new Error(`stopping worker ${workerId} on ${host.name} failed: ${stopped.stderr.trim() || `exit code ${stopped.code}`}`);
    this.#placed.delete(workerId);
  }

  /**
   * `unknown` while the host cannot be reached: a vanished host's workers are found by their
   * silence. Questions asked together (a health check asks after every worker at once) go
   * to each host in one session, so a slow login costs once per host, not once per worker.
   */
  async status(machine: MachineHandle): Promise<'running' | 'gone' | 'unknown'> {
    const host = this.#host(machine);
    if (!host) return 'gone';
    const said = await this.#statusOn(host, { pid: Number(machine.pid), start: String(machine.start) });
    if (said === 'gone') this.#placed.delete(String(machine.workerId));
    return said;
  }

  #statusOn(host: SshHost, agent: AgentProcess): Promise<'running' | 'gone' | 'unknown'> {
    let batch = this.#statusBatches.get(host.name);
    if (!batch) {
      const asked: StatusQuestion[] = [];
      batch = asked;
      this.#statusBatches.set(host.name, asked);
      setImmediate(() => {
        this.#statusBatches.delete(host.name);
        void this.#answerStatuses(host, asked);
      });
    }
    return new Promise((resolve) => batch.push({ agent, resolve }));
  }

  async #answerStatuses(host: SshHost, asked: StatusQuestion[]): Promise<void> {
    const answer = await this.#ask(host, statusScript(asked.map((q) => q.agent))).catch(() => undefined);
    const said = new Map<number, string>();
    for (const line of (answer ?? '').split('\n')) {
      const [pid, state] = line.split(' ');
      if (state === 'running' || state === 'gone') said.set(Number(pid), state);
    }
    for (const { agent, resolve } of asked) resolve((said.get(agent.pid) as 'running' | 'gone' | undefined) ?? 'unknown');
  }

  /** Machines found by their marker on every host that answers: agents and what their tasks left. */
  async inventory(): Promise<FoundMachine[]> {
    const found = new Map<string, FoundMachine>();
    const answers = await Promise.all(this.#options.hosts.map((host) => this.#ask(host, inventoryScript(host.work_dir))));
    this.#options.hosts.forEach((host, i) => {
      for (const machine of parseInventory(host.name, answers[i] ?? '')) {
        if (!found.has(machine.workerId)) found.set(machine.workerId, machine);
      }
    });
    return [...found.values()];
  }

  /** Every host's agents and files, asked now: for `slipway instances` and `purge`, which must say what they could not see. */
  async survey(): Promise<HostSurvey[]> {
    return Promise.all(this.#options.hosts.map(async (host): Promise<HostSurvey> => {
      try {
        const surveyed = await this.#ssh.exec(host, 'sh -s', surveyScript(host.work_dir));
        if (surveyed.code !== 0) throw new Error(surveyed.stderr.trim() || 'the survey script failed');
        return { host, machines: parseInventory(host.name, surveyed.stdout), files: parseFiles(surveyed.stdout) };
      } catch (error) {
        return { host, machines: [], files: [], error: (error as Error).message };
      }
    }));
  }

  async removeFile(hostName: string, file: HostFile): Promise<void> {
    const host = this.#options.hosts.find((h) => h.name === hostName);
    if (!host) throw new Error(`no ssh host ${hostName} in the config`);
    const removed = await this.#ssh.exec(host, 'sh -s', removeFileScript(host.work_dir, file));
    if (removed.code !== 0) throw new Error(removed.stderr.trim() || `exit code ${removed.code}`);
  }

  /** A script's output, or undefined when the host cannot be reached now. */
  async #ask(host: SshHost, script: string): Promise<string | undefined> {
    if ((this.#unreachableUntil.get(host.name) ?? 0) > Date.now()) return undefined;
    try {
      const answer = await this.#ssh.exec(host, 'sh -s', script);
      return answer.code === 0 ? answer.stdout : undefined;
    } catch {
      this.#unreachableUntil.set(host.name, Date.now() + unreachableMs);
      return undefined;
    }
  }

  close(): void {
    this.#ssh.closeAll();
  }

  async #startOn(host: SshHost, request: StartRequest): Promise<MachineHandle> {
    // The host is reached first (a handshake and a login, no session): a refused host key
    // or login costs no download, and the launch is then the start's one session.
    try {
      await this.#ssh.reach(host);
    } catch (error) {
      this.#unreachableUntil.set(host.name, Date.now() + unreachableMs);
      throw error;
    }
    this.#unreachableUntil.delete(host.name);
    // Fetched as the host will fetch it, by its URL and pinning the same certificate.
    const connection = new HttpConnection(request.serverUrl, request.serverTrust?.certificate);
    const bootstrap = await connection.send('GET', '/api/v1/agent/bootstrap.sh', { authorization: `Bearer ${request.registrationToken}` }).finally(() => connection.close());
    if (bootstrap.status !== 200) throw new Error(`the coordinator refused the bootstrap script: ${bootstrap.status} ${bootstrap.body.slice(0, 300)}`);
    const launched = await this.#ssh.exec(host, 'sh -s', launchScript({
      workerId: request.workerId, workDir: host.work_dir, serverUrl: request.serverUrl,
      registrationToken: request.registrationToken, bootstrap: bootstrap.body, allowPlainHttp: request.allowPlainHttp,
    }));
    const match = launched.stdout.trim().match(/^(\d+) (\d+)$/);
    if (launched.code !== 0 || !match) throw new Error(`starting the agent on ${host.name} failed: ${launched.stderr.trim() || `exit code ${launched.code}`}`);
    return { host: host.name, workerId: request.workerId, pid: Number(match[1]), start: match[2]! };
  }

  /** The host with the most free slots that has not failed this start yet, so workers spread over the hosts. */
  #emptiest(live: MachineHandle[], tried: Set<string>): SshHost | undefined {
    const placed = new Map<string, string>();
    const now = Date.now();
    for (const [workerId, { host, until }] of this.#placed) {
      if (until > now) placed.set(workerId, host);
      else this.#placed.delete(workerId);
    }
    // Once the store lists a machine, the store is the truth about it.
    for (const machine of live) {
      placed.set(String(machine.workerId), String(machine.host));
      this.#placed.delete(String(machine.workerId));
    }
    const load = new Map<string, number>();
    for (const host of placed.values()) load.set(host, (load.get(host) ?? 0) + 1);
    let best: { host: SshHost; free: number } | undefined;
    for (const host of this.#options.hosts) {
      if (tried.has(host.name)) continue;
      const free = host.max_workers - (load.get(host.name) ?? 0);
      if (free > 0 && (!best || free > best.free)) best = { host, free };
    }
    return best?.host;
  }

  #host(machine: MachineHandle): SshHost | undefined {
    return this.#options.hosts.find((host) => host.name === machine.host);
  }
}

/** inventoryScript's lines as machines, one per worker: its agent, or else the first process its tasks left. */
function parseInventory(hostName: string, text: string): FoundMachine[] {
  const found = new Map<string, FoundMachine>();
  for (const line of text.split('\n')) {
    const match = line.match(/^(\d+) (\d+) (w-[0-9a-z]+)$/);
    if (!match || found.has(match[3]!)) continue;
    found.set(match[3]!, { workerId: match[3]!, machine: { host: hostName, workerId: match[3]!, pid: Number(match[1]), start: match[2]! } });
  }
  return [...found.values()];
}

function parseFiles(text: string): HostFile[] {
  const files: HostFile[] = [];
  for (const line of text.split('\n')) {
    if (line === 'runtime' || line === 'prepared') files.push({ kind: line });
    const dir = line.match(/^dir (w-[0-9a-z]+)$/);
    if (dir) files.push({ kind: 'dir', workerId: dir[1]! });
  }
  return files;
}
