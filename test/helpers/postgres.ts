import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/**
 * A private PostgreSQL cluster from Debian's package, under a temporary directory, reached
 * through a Unix socket there only (no TCP port): started for a test run and stopped after,
 * like the sshd hosts. PostgreSQL refuses to run as root, so under root it runs as the
 * package's `postgres` user. `settings` are more `-c NAME=VALUE` of the server.
 */
export interface PostgresCluster {
  /** The postgres:// URL of one database of the cluster. */
  url(database: string): string;
  /** The server's process id: its connections' processes are its children. */
  pid: number;
  stop(): Promise<void>;
}

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((name) => /^\d+$/.test(name)).map(Number).sort((a, b) => b - a) : [];
  if (versions.length === 0) throw new Error('PostgreSQL is not installed (Debian package postgresql): npm test installs it');
  return join(root, String(versions[0]), 'bin');
}

function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  return { uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })) };
}

export async function startPostgresCluster(settings: string[] = []): Promise<PostgresCluster> {
  const bin = binDir();
  const user = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'slipway-pg-'));
  const data = join(dir, 'data');
  const socket = join(dir, 'socket');
  mkdirSync(socket);
  if (user) for (const path of [dir, socket]) chownSync(path, user.uid, user.gid);
  let server: ChildProcess | undefined;
  const stop = async () => {
    if (server && server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((resolve) => server!.once('exit', resolve));
      // SIGINT is PostgreSQL's fast shutdown: clients are disconnected, nothing is waited for.
      server.kill('SIGINT');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    execFileSync(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C.UTF-8'], { ...user, stdio: 'pipe' });
    server = spawn(join(bin, 'postgres'), ['-D', data, '-k', socket, '-c', 'listen_addresses=', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=300', ...settings.flatMap((setting) => ['-c', setting])], { ...user, stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let said = '';
      server!.stderr!.setEncoding('utf8');
      server!.stderr!.on('data', (chunk: string) => {
        said += chunk;
        if (said.includes('database system is ready to accept connections')) resolve();
      });
      server!.once('exit', (code) => reject(new Error(`postgres exited (${code}) before it was ready:\n${said}`)));
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: (database) => `postgres://postgres@localhost/${database}?host=${encodeURIComponent(socket)}`, pid: server.pid!, stop };
}

/**
 * A new, empty store on the cluster at `url`: a schema of its own, which the URL selects
 * (search_path), so tests share one database and each store costs only its tables.
 */
export async function freshSchema(url: string, prefix = 't'): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await admin(`create schema ${name}`);
  const selected = new URL(url);
  selected.searchParams.set('options', `-c search_path=${name}`);
  return { url: selected.toString(), drop: () => admin(`drop schema if exists ${name} cascade`) };
}
