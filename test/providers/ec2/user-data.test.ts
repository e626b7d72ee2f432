import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/temp.ts';
import { checkedBootValues, encodedUserData, linuxUserData, windowsUserData } from '../../../src/providers/ec2/user-data.ts';
import { decodedUserData } from './aws-fixtures.ts';

const token = 'Abc_def-0123456789xyzXYZ0123456789abcdefghij';

describe('user data', () => {
  it('Linux: sets the server and token, pipes the bootstrap to sh with the token as bearer, then powers off', () => {
    const script = linuxUserData({ serverUrl: 'https://ci.example.com:7070/', registrationToken: token, workerId: 'w-0123abcd' });
    expect(script.startsWith('#!/bin/sh\n')).toBe(true);
    expect(script).toContain(`SLIPWAY_SERVER='https://ci.example.com:7070'\n`);
    expect(script).toContain(`SLIPWAY_REGISTRATION_TOKEN='${token}'\n`);
    expect(script).toContain(`SLIPWAY_WORKER='w-0123abcd'\n`);
    expect(script).toContain('export SLIPWAY_SERVER SLIPWAY_REGISTRATION_TOKEN SLIPWAY_WORKER SLIPWAY_ROOT');
    expect(script).toMatch(/printf 'header = "authorization: Bearer %s"\\n' "\$SLIPWAY_REGISTRATION_TOKEN" \|\n\s+curl -fsS .*-K - "\$SLIPWAY_SERVER\/api\/v1\/agent\/bootstrap\.sh" \| sh\n/);
    expect(script.trimEnd().endsWith('shutdown -h now')).toBe(true);
  });

  it('Linux: really runs under sh, fetching the bootstrap with the bearer header and running it, then shutting down', async () => {
    const dir = tempDir('slipway-user-data-');
    const headers: (string | undefined)[] = [];
    const server = createServer((req, res) => {
      headers.push(req.headers.authorization);
      res.end(req.url === '/api/v1/agent/bootstrap.sh' ? `echo "ran for $SLIPWAY_WORKER in $SLIPWAY_ROOT" > ${join(dir.path, 'ran')}\n` : '');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      // shutdown is a stand-in on PATH that notes it was called.
      const bin = join(dir.path, 'bin');
      mkdirSync(bin);
      writeFileSync(join(bin, 'shutdown'), `#!/bin/sh\necho "$@" > ${join(dir.path, 'shutdown')}\n`);
      chmodSync(join(bin, 'shutdown'), 0o755);
      const script = join(dir.path, 'user-data');
      writeFileSync(script, linuxUserData({ serverUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, registrationToken: token, workerId: 'w-0123abcd' }));
      await promisify(execFile)('sh', [script], { env: { PATH: `${bin}:${process.env.PATH}` } });
      expect(headers).toEqual([`Bearer ${token}`]);
      expect(readFileSync(join(dir.path, 'ran'), 'utf8')).toBe('ran for w-0123abcd in /var/lib/slipway\n');
      expect(readFileSync(join(dir.path, 'shutdown'), 'utf8')).toBe('-h now\n');
    } finally {
      server.close();
      dir.remove();
    }
  });

  it('Windows: a <powershell> block that does the same and stops the computer however the agent ends', () => {
    const script = windowsUserData({ serverUrl: 'http://10.0.0.5:7070', registrationToken: token, workerId: 'w-0123abcd' });
    expect(script.startsWith('<powershell>\n')).toBe(true);
    expect(script.trimEnd().endsWith('</powershell>')).toBe(true);
    expect(script).toContain(`$env:SLIPWAY_SERVER = 'http://10.0.0.5:7070'`);
    expect(script).toContain(`$env:SLIPWAY_REGISTRATION_TOKEN = '${token}'`);
    expect(script).toContain(`$env:SLIPWAY_WORKER = 'w-0123abcd'`);
    expect(script).toContain('Authorization = "Bearer $env:SLIPWAY_REGISTRATION_TOKEN"');
    expect(script).toMatch(/finally \{\n\s+Stop-Computer -Force\n\}/);
  });

  it('encodes as base64 for the platform', () => {
    expect(decodedUserData(encodedUserData('linux', { serverUrl: 'http://h', registrationToken: token, workerId: 'w-0123abcd' }))).toMatch(/^#!\/bin\/sh/);
    expect(decodedUserData(encodedUserData('windows', { serverUrl: 'http://h', registrationToken: token, workerId: 'w-0123abcd' }))).toMatch(/^<powershell>/);
  });

  it.each([
    "http://h'; rm -rf / #",
    'http://h/$(id)',
    'http://h`id`',
    'ftp://h',
    'http://h path',
    'http://-h',
    'http://h\nshutdown',
    '',
  ])('refuses the server URL %j', (serverUrl) => {
    expect(() => checkedBootValues({ serverUrl, registrationToken: token, workerId: 'w-0123abcd' })).toThrow(/server URL/);
  });

  it.each(["abc'def0123456789abc", 'short', 'a'.repeat(129), 'abc def 0123456789abc', 'abc$def0123456789abc'])('refuses the token %j', (registrationToken) => {
    expect(() => checkedBootValues({ serverUrl: 'http://h', registrationToken, workerId: 'w-0123abcd' })).toThrow(/registration token/);
  });

  it.each(['w-0123abc', "w-0123abc'", 'x-0123abcd'])('refuses the worker id %j', (workerId) => {
    expect(() => checkedBootValues({ serverUrl: 'http://h', registrationToken: token, workerId })).toThrow(/not a worker id/);
  });

  it('accepts IPv6 hosts and paths', () => {
    expect(checkedBootValues({ serverUrl: 'http://[fd00::1]:7070/slipway', registrationToken: token, workerId: 'w-0123abcd' }).serverUrl).toBe('http://[fd00::1]:7070/slipway');
  });
});
