import { execFileSync } from 'node:child_process';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/cli.ts';
import { processesUnder, waitFor } from '../helpers/processes.ts';
import { freePort } from '../helpers/server-process.ts';

let box: Sandbox;
afterEach(() => box.cleanup());

function write(name: string, text: string): string {
  const path = join(box.dir.path, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
}

describe('slipway config', () => {
  it('prints a default that `config check` passes as it is', async () => {
    box = new Sandbox();
    const printed = await box.run(['config']);
    expect(printed.code).toBe(0);
    const file = write('printed.toml', printed.stdout);
    const checked = await box.run(['config', 'check'], { SLIPWAY_CONFIG: file });
    expect(checked).toEqual({ code: 0, stdout: `${file}: ok\n`, stderr: '' });
  });

  it('reports every mistake as file:line:column: message, exit 2, no stack', async () => {
    box = new Sandbox();
    const file = write('bad.toml', '[server]\nlisen = "127.0.0.1:1"\nheartbeat_timeout = "soon"\n\n[[providers.ssh.hosts]]\nname = "a"\naddress = "h"\nuser = "u"\nkye = "k"\n');
    const checked = await box.run(['config', 'check', file]);
    expect(checked).toEqual({
      code: 2,
      stdout: '',
      stderr: [
        `${file}:2:1: server: unknown key 'lisen' (did you mean 'listen'?)`,
        `${file}:3:21: server.heartbeat_timeout: expected a duration like 90s, 5m, 2h or 1h30m, got "soon"`,
        `${file}:9:1: providers.ssh.hosts[0]: unknown key 'kye' (did you mean 'key'?)`,
        '',
      ].join('\n'),
    });
  });

  it('finds the file under XDG_CONFIG_HOME, and says when there is none', async () => {
    box = new Sandbox();
    const path = join(box.config, 'slipway', 'config.toml');
    expect(await box.run(['config', 'path'])).toEqual({ code: 0, stdout: `${path}\n`, stderr: '(the default location; does not exist: the built-in defaults apply)\n' });
    expect(await box.run(['config', 'check'])).toEqual({ code: 0, stdout: `${path}: does not exist; the built-in defaults apply\n`, stderr: '' });
    write('config/slipway/config.toml', '[server]\nlisten = 1\n');
    expect(await box.run(['config', 'check'])).toEqual({ code: 2, stdout: '', stderr: `${path}:2:10: server.listen: expected HOST:PORT, got 1\n` });
  });

  it('refuses a SLIPWAY_CONFIG that names a missing file', async () => {
    box = new Sandbox();
    const missing = join(box.dir.path, 'nope.toml');
    const checked = await box.run(['config', '--json'], { SLIPWAY_CONFIG: missing });
    expect(checked).toEqual({
      code: 2,
      stdout: '',
      stderr: `SLIPWAY_CONFIG names ${missing}, which does not exist (write one with: slipway config > ${missing})\n`,
    });
  });

  it('prints the config in effect as JSON, paths in the state directory', async () => {
    box = new Sandbox();
    write('config/slipway/config.toml', '[server]\nanonymous_read = true\n');
    const printed = await box.run(['config', '--json']);
    expect(printed.code).toBe(0);
    const config = JSON.parse(printed.stdout) as { server: { anonymous_read: boolean }; store: { path: string } };
    expect(config.server.anonymous_read).toBe(true);
    expect(config.store.path).toBe(join(box.state, 'slipway', 'slipway.db'));
  });
});

describe('slipway config check on a hostile file', () => {
  /**
   * A CLI run with a small heap, stopped if it outlasts `guardMs`: only a guard, for the
   * hang or the out-of-memory death these cases met before (a FIFO, quadratic nesting).
   */
  async function guardedCheck(file: string, guardMs = 20_000) {
    const child = box.spawn(['config', 'check', file], { NODE_OPTIONS: '--max-old-space-size=256' });
    const guard = setTimeout(() => child.kill('SIGKILL'), guardMs);
    try {
      return await child.result;
    } finally {
      clearTimeout(guard);
    }
  }

  const depthLimit = 'the TOML nests deeper than 16 levels (tables, dotted keys, arrays and inline tables together)';

  it('refuses 100 KB of nested tables at the level past the limit, without running out of memory', async () => {
    box = new Sandbox();
    const parts = (n: number) => Array.from({ length: n }, () => 'a').join('.');
    const files = {
      header: write('header.toml', `[${parts(50_000)}]\nx = 1\n`),
      headers: write('headers.toml', Array.from({ length: 420 }, (_, n) => `[${parts(n + 1)}]\n`).join('')),
      dotted: write('dotted.toml', `${parts(50_000)} = 1\n`),
      inline: write('inline.toml', `a = ${'{b = '.repeat(16_000)}1${'}'.repeat(16_000)}\n`),
    };
    expect(await guardedCheck(files.header)).toEqual({ code: 2, stdout: '', stderr: `${files.header}:1:34: ${depthLimit}\n` });
    expect(await guardedCheck(files.headers)).toEqual({ code: 2, stdout: '', stderr: `${files.headers}:17:34: ${depthLimit}\n` });
    expect(await guardedCheck(files.dotted)).toEqual({ code: 2, stdout: '', stderr: `${files.dotted}:1:33: ${depthLimit}\n` });
    expect(await guardedCheck(files.inline)).toEqual({ code: 2, stdout: '', stderr: `${files.inline}:1:81: ${depthLimit}\n` });
  });

  it('refuses a FIFO at once, and a file over 256 KiB, naming the file', async () => {
    box = new Sandbox();
    const fifo = join(box.dir.path, 'config.toml');
    execFileSync('mkfifo', [fifo]);
    const reason = 'cannot read the config file: it is a FIFO, not a regular file';
    expect(await guardedCheck(fifo)).toEqual({ code: 2, stdout: '', stderr: `${fifo}: ${reason}\n` });
    expect(await box.run(['config', 'check'], { SLIPWAY_CONFIG: fifo })).toEqual({ code: 2, stdout: '', stderr: `${fifo}: ${reason}\n` });
    const big = write('big.toml', `# ${'x'.repeat(256 * 1024)}\n`);
    expect(await guardedCheck(big)).toEqual({ code: 2, stdout: '', stderr: `${big}: cannot read the config file: it is larger than 256 KiB\n` });
  });
});

describe('slipway server with a config', () => {
  it('listens where [server] says, keeping its state private', async () => {
    box = new Sandbox();
    const port = await freePort();
    write('config/slipway/config.toml', `[server]\nlisten = "127.0.0.1:${port}"\n`);
    const server = box.spawn(['server']);
    try {
      let stdout = '';
      server.stdout!.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
      await waitFor(() => /admin token/.test(stdout), 20_000, 'the server to listen');
      expect(stdout).toContain(`slipway server listening on http://127.0.0.1:${port}\n`);
      const state = join(box.state, 'slipway');
      // As root, its workers run as another user, who may enter it to reach their work root but not list it.
      expect(statSync(state).mode & 0o777).toBe(process.getuid?.() === 0 ? 0o711 : 0o700);
      for (const file of ['slipway.db', 'admin.token']) expect(statSync(join(state, file)).mode & 0o777, file).toBe(0o600);
    } finally {
      server.kill('SIGTERM');
      await server.result;
    }
    expect(processesUnder(box.dir.path)).toEqual([]);
  });

  it('lets a flag override its key', async () => {
    box = new Sandbox();
    const port = await freePort();
    write('config/slipway/config.toml', '[server]\nlisten = "127.0.0.1:1"\n');
    const server = box.spawn(['server', '--listen', `127.0.0.1:${port}`]);
    try {
      let stdout = '';
      server.stdout!.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
      await waitFor(() => /admin token/.test(stdout), 20_000, 'the server to listen');
      expect(stdout).toContain(`slipway server listening on http://127.0.0.1:${port}\n`);
    } finally {
      server.kill('SIGTERM');
      await server.result;
    }
  });

  it('does not start on an invalid config: exit 2 with the positioned mistakes', async () => {
    box = new Sandbox();
    const file = write('config/slipway/config.toml', '[server]\nhealth_interval = "often"\n');
    expect(await box.run(['server'])).toEqual({
      code: 2,
      stdout: '',
      stderr: `${file}:2:19: server.health_interval: expected a duration like 90s, 5m, 2h or 1h30m, got "often"\n`,
    });
  });
});
