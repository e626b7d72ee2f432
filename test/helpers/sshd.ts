import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, constants, copyFileSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { tmpdir, userInfo } from 'node:os';
import { processesUnder } from './processes.ts';
import { freePort } from './server-process.ts';

export const sshdPath = '/usr/sbin/sshd';

/** The unprivileged account the hosts let in when the tests run as root, made by scripts/setup-test-deps.sh. */
export const sshTestUser = 'slipway-ssh-test';

/** Who logs in to the test hosts: as root, the dedicated account (with its slow rc file); otherwise whoever runs the tests. */
export interface LoginUser {
  name: string;
  uid: number;
  gid: number;
}

export function loginUser(): LoginUser {
  const me = userInfo();
  if (me.uid !== 0) return { name: me.username, uid: me.uid, gid: me.gid };
  const entry = spawnSync('getent', ['passwd', sshTestUser], { encoding: 'utf8' });
  const fields = entry.stdout.trim().split(':');
  if (entry.status !== 0 || fields.length < 7) {
    throw new Error(`the ssh tests log in as ${sshTestUser}, which does not exist: run bash scripts/setup-test-deps.sh (npm test does)`);
  }
  return { name: sshTestUser, uid: Number(fields[2]), gid: Number(fields[3]) };
}

/** An ed25519 key pair made by ssh-keygen: the private key's path and the public key's line. */
export function keyPair(path: string): { key: string; pub: string } {
  const made = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'slipway-test', '-f', path], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`ssh-keygen failed: ${made.stderr}`);
  return { key: path, pub: readFileSync(`${path}.pub`, 'utf8').trim() };
}

/**
 * One "host": a real OpenSSH sshd on 127.0.0.1 with its own host key, letting in one
 * client key, and its own directory for workers. Everything it runs is found by pid.
 */
export class SshdHost {
  readonly name: string;
  readonly dir: string;
  readonly port: number;
  readonly hostKey: { key: string; pub: string };
  readonly login: LoginUser;
  /** The host's work_dir: the login user's own, inside `dir`. */
  readonly workDir: string;
  pid = 0;
  #log = '';

  private constructor(name: string, dir: string, port: number, hostKey: { key: string; pub: string }, login: LoginUser) {
    this.name = name;
    this.dir = dir;
    this.port = port;
    this.hostKey = hostKey;
    this.login = login;
    this.workDir = join(dir, 'slipway');
  }

  /** This host as a `[[providers.ssh.hosts]]` table of the config, logging in with `key` (else the default key). */
  configTable(key?: string): string {
    return [
      '[[providers.ssh.hosts]]', `name = "${this.name}"`, 'address = "127.0.0.1"', `port = ${this.port}`, `user = "${this.user}"`,
      ...(key ? [`key = "${key}"`] : []), `work_dir = "${this.workDir}"`, '',
    ].join('\n');
  }

  static async start(name: string, dir: string, clientPub: string): Promise<SshdHost> {
    const login = loginUser();
    mkdirSync(dir, { recursive: true });
    // sshd run as root checks its privilege separation directory, which Debian's service makes.
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const host = new SshdHost(name, dir, await freePort(), keyPair(join(dir, 'host_ed25519')), login);
    // The login user reads its authorized keys and writes its work_dir; it can list nothing else here.
    letThrough(dir);
    writeFileSync(join(dir, 'authorized_keys'), `${clientPub}\n`, { mode: 0o644 });
    mkdirSync(host.workDir, { mode: 0o700 });
    chownSync(host.workDir, login.uid, login.gid);
    writeFileSync(join(dir, 'sshd_config'), [
      `ListenAddress 127.0.0.1`, `HostKey ${host.hostKey.key}`, `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      `PidFile ${join(dir, 'sshd.pid')}`, 'StrictModes no', 'UsePAM no', `AllowUsers ${login.name}`, 'PermitRootLogin no',
      'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'LogLevel VERBOSE', 'MaxSessions 50', 'MaxStartups 50',
    ].join('\n') + '\n');
    await host.#listen();
    return host;
  }

  /**
   * Puts node in the host's runtime cache, where a first bootstrap leaves it, so starting a
   * worker there downloads only the agent: for tests about something else than the 126 MB
   * download (test/api/agent-bootstrap.test.ts downloads it on a fresh host).
   */
  seedRuntime(node: string, sha256: string): void {
    const runtime = join(this.workDir, 'runtime');
    mkdirSync(runtime, { mode: 0o700 });
    chownSync(runtime, this.login.uid, this.login.gid);
    const target = join(runtime, `node-${sha256}`);
    copyFileSync(node, target, constants.COPYFILE_FICLONE);
    chmodSync(target, 0o700);
    chownSync(target, this.login.uid, this.login.gid);
  }

  get user(): string {
    return this.login.name;
  }

  /** Sessions started so far (each runs the login shell and its rc file once), from sshd's own log. */
  sessions(): number {
    return this.#log.split('\n').filter((line) => line.includes('Starting session: ')).length;
  }

  async #listen(): Promise<void> {
    const child = spawn(sshdPath, ['-D', '-e', '-f', join(this.dir, 'sshd_config'), '-p', String(this.port)], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.on('data', (chunk: Buffer) => { this.#log += chunk.toString(); });
    this.pid = child.pid!;
    const deadline = Date.now() + 10_000;
    while (!(await accepts(this.port))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`sshd ${this.name} did not start: ${this.#log}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /**
   * The host vanishes: its sshd, every connection it serves and every process of its
   * workers, SIGKILLed. Login shells of sessions in flight get SIGTERM instead: they are
   * this machine's real shells, whose rc files may hold locks (pyenv's) they must release.
   */
  cutOff(): void {
    const sessions = descendants(this.pid);
    const sshd = sessions.filter((pid) => exeOf(pid) === sshdPath);
    const kill = (pid: number, signal: NodeJS.Signals): void => {
      try {
        process.kill(pid, signal);
      } catch {
        // gone meanwhile
      }
    };
    for (const pid of [this.pid, ...sshd, ...processesUnder(this.workDir).map((p) => p.pid)]) kill(pid, 'SIGKILL');
    for (const pid of sessions) if (!sshd.includes(pid)) kill(pid, 'SIGTERM');
  }
}

/** `dir` and the directories above it, up to the temporary directory, can be passed through (not listed) by anyone. */
function letThrough(dir: string): void {
  if (!dir.startsWith(`${tmpdir()}/`)) throw new Error(`a test host lives in the temporary directory, not in ${dir}`);
  for (let at = dir; at !== dirname(at) && at !== tmpdir(); at = dirname(at)) {
    chmodSync(at, statSync(at).mode | 0o111);
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/** Every process below `root`, by parent pid. */
function descendants(root: number): number[] {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const visit = (pid: number): void => {
    for (const [child, parent] of parents) if (parent === pid) { found.push(child); visit(child); }
  };
  visit(root);
  return found;
}

function exeOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}
