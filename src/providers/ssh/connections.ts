import { readFileSync } from 'node:fs';
import { Client } from 'ssh2';
import { HostKeyChanged, type PinnedHostKeys } from './known-hosts.ts';

/** An SSH host as the config describes it. */
export interface SshHost {
  name: string;
  address: string;
  port: number;
  user: string;
  /** The private key file to log in with. */
  key: string;
  max_workers: number;
  /** Where workers' directories go on the host (`~/` is the remote user's home). */
  work_dir: string;
}

export interface Executed {
  code: number | null;
  stdout: string;
  stderr: string;
}

const connectTimeoutMs = 10_000;

/**
 * One SSH connection per host, opened on first use and reused for every command (each on
 * its own channel), so a health check that asks after every worker costs no handshakes.
 */
export class SshConnections {
  readonly #keys: PinnedHostKeys;
  readonly #open = new Map<string, Promise<Client>>();

  constructor(keys: PinnedHostKeys) {
    this.#keys = keys;
  }

  /**
   * Runs `command` (a shell line) on the host, with `stdin` written to it. A host that does
   * not answer in `timeoutMs` has its connection dropped, so no caller waits on it forever
   * and the next command connects afresh.
   */
  async exec(host: SshHost, command: string, stdin = '', timeoutMs = 60_000): Promise<Executed> {
    const client = await this.#connection(host);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#drop(host, client);
        reject(new Error(`ssh to ${host.name}: no answer within ${Math.round(timeoutMs / 1000)}s`));
      }, timeoutMs);
      client.exec(command, (error, channel) => {
        if (error) {
          clearTimeout(timer);
          return reject(error);
        }
        let stdout = '';
        let stderr = '';
        channel.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
        channel.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
        channel.once('close', (code: number | null | undefined) => {
          clearTimeout(timer);
          if (code === undefined) reject(new Error(`ssh to ${host.name}: the connection closed before the command ended`));
          else resolve({ code, stdout, stderr });
        });
        channel.end(stdin);
      });
    });
  }

  /** Opens the host's connection (handshake, host key check, login) without starting a session. */
  async reach(host: SshHost): Promise<void> {
    await this.#connection(host);
  }

  closeAll(): void {
    for (const client of this.#open.values()) void client.then((c) => c.end(), () => undefined);
    this.#open.clear();
  }

  #drop(host: SshHost, client: Client): void {
    this.#open.delete(host.name);
    client.destroy();
  }

  #connection(host: SshHost): Promise<Client> {
    const open = this.#open.get(host.name);
    if (open) return open;
    const connecting = new Promise<Client>((resolve, reject) => {
      const client = new Client();
      let refusal: Error | undefined;
      const forget = (): void => { if (this.#open.get(host.name) === connecting) this.#open.delete(host.name); };
      client.once('ready', () => resolve(client));
      client.on('error', (error) => { forget(); reject(refusal ?? new Error(`ssh to ${host.name} (${host.user}@${host.address}:${host.port}): ${error.message}`)); });
      client.once('close', forget);
      client.connect({
        host: host.address, port: host.port, username: host.user, privateKey: readFileSync(host.key),
        readyTimeout: connectTimeoutMs, keepaliveInterval: 15_000,
        hostVerifier: (key: Buffer) => {
          try {
            this.#keys.check(host.address, host.port, key);
            return true;
          } catch (error) {
            if (!(error instanceof HostKeyChanged)) throw error;
            refusal = new HostKeyChanged(`ssh to ${host.name} refused: ${error.message}`);
            return false;
          }
        },
      });
    });
    this.#open.set(host.name, connecting);
    return connecting;
  }
}
