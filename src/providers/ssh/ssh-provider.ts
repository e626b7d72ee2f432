import type { MachineHandle, Provider, StartRequest, StopOptions } from '../provider.ts';
import { SshConnections, type SshHost } from './connections.ts';
import { PinnedHostKeys } from './known-hosts.ts';
import { launchScript, statusScript, stopScript } from './remote-scripts.ts';

/** How long a started worker counts against its host before the store is trusted to list it. */
const placedMemoryMs = 60_000;

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
  /** Workers this process started lately, by host: counted until the store lists them (or for a minute). */
  readonly #placed = new Map<string, { host: string; at: number }>();

  constructor(options: SshProviderOptions) {
    this.#options = options;
    this.#ssh = new SshConnections(new PinnedHostKeys(options.knownHosts));
  }

  async start(request: StartRequest): Promise<MachineHandle> {
    const live = await this.#options.liveMachines();
    const tried = new Set<string>();
    const failures: string[] = [];
    for (let host = this.#emptiest(live, tried); host; host = this.#emptiest(live, tried)) {
      tried.add(host.name);
      // Counted at once, before anything is awaited, so starts in parallel never overfill a host.
      this.#placed.set(request.workerId, { host: host.name, at: Date.now() });
      try {
        return await this.#startOn(host, request);
      } catch (error) {
        this.#placed.delete(request.workerId);
        failures.push(`${host.name}: ${(error as Error).message}`);
      }
    }
    if (failures.length === 0) throw new Error(`every ssh host has its max_workers running (${this.#options.hosts.map((h) => `${h.name}: ${h.max_workers}`).join(', ')})`);
    throw new Error(`no ssh host could start a worker: ${failures.join('; ')}`);
  }

  async stop(machine: MachineHandle, options: StopOptions = {}): Promise<void> {
    const host = this.#host(machine);
    const workerId = String(machine.workerId);
    if (!host) return;
    const grace = this.#options.killGraceMs ?? 5000;
    const stopped = await this.#ssh.exec(host, 'sh -s', stopScript(workerId, host.work_dir, Number(machine.pid), String(machine.start), grace, options.drained ?? false));
    if (stopped.code !== 0) throw new Error(`stopping worker ${workerId} on ${host.name} failed: ${stopped.stderr.trim() || `exit code ${stopped.code}`}`);
    this.#placed.delete(workerId);
  }

  /** `unknown` while the host cannot be reached: a vanished host's workers are found by their silence. */
  async status(machine: MachineHandle): Promise<'running' | 'gone' | 'unknown'> {
    const host = this.#host(machine);
    if (!host) return 'gone';
    try {
      const answer = await this.#ssh.exec(host, 'sh -s', statusScript(Number(machine.pid), String(machine.start)));
      const said = answer.stdout.trim();
      if (said === 'gone') this.#placed.delete(String(machine.workerId));
      return said === 'running' || said === 'gone' ? said : 'unknown';
    } catch {
      return 'unknown';
    }
  }

  close(): void {
    this.#ssh.closeAll();
  }

  async #startOn(host: SshHost, request: StartRequest): Promise<MachineHandle> {
    // The host is reached first: a refused host key or login costs no download.
    await this.#ssh.exec(host, 'true');
    const bootstrap = await fetch(`${request.serverUrl}/api/v1/agent/bootstrap.sh`, { headers: { authorization: `Bearer ${request.registrationToken}` } });
    if (!bootstrap.ok) throw new Error(`the coordinator refused the bootstrap script: ${bootstrap.status} ${(await bootstrap.text()).slice(0, 300)}`);
    const launched = await this.#ssh.exec(host, 'sh -s', launchScript({
      workerId: request.workerId, workDir: host.work_dir, serverUrl: request.serverUrl,
      registrationToken: request.registrationToken, bootstrap: await bootstrap.text(),
    }));
    const match = launched.stdout.trim().match(/^(\d+) (\d+)$/);
    if (launched.code !== 0 || !match) throw new Error(`starting the agent on ${host.name} failed: ${launched.stderr.trim() || `exit code ${launched.code}`}`);
    return { host: host.name, workerId: request.workerId, pid: Number(match[1]), start: match[2]! };
  }

  /** The host with the most free slots that has not failed this start yet, so workers spread over the hosts. */
  #emptiest(live: MachineHandle[], tried: Set<string>): SshHost | undefined {
    const placed = new Map<string, string>();
    const recent = Date.now() - placedMemoryMs;
    for (const [workerId, { host, at }] of this.#placed) if (at > recent) placed.set(workerId, host);
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
