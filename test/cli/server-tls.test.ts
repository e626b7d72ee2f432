import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.ts';
import { parseConfig } from '../../src/config/load.ts';
import { serverTls } from '../../src/cli/server-tls.ts';
import { generatedTls } from '../../src/api/server-certificate.ts';
import { tempDir } from '../helpers/temp.ts';

const dir = tempDir('slipway-tls-');
afterAll(() => dir.remove());

const serverConfig = (...lines: string[]) => parseConfig(['[server]', ...lines, ''].join('\n'), 'config.toml', dir.path).server;

describe('[server] tls', () => {
  it('"auto" stays on plain HTTP for a server only this machine reaches, and serves HTTPS once it listens for others', () => {
    expect(serverTls(serverConfig(), '127.0.0.1', undefined, join(dir.path, 'a'))).toBeUndefined();
    const tls = serverTls(serverConfig(), '0.0.0.0', 'https://ci.example.com:7070', join(dir.path, 'b'))!;
    expect(tls.generated).toBe(true);
    const certificate = new X509Certificate(tls.certificate);
    // Every name a worker or a local agent may use: loopback, the public URL's host.
    for (const ip of ['127.0.0.1', '::1']) expect(certificate.checkIP(ip)).toBe(ip);
    expect(certificate.checkHost('ci.example.com')).toBe('ci.example.com');
    expect(certificate.checkHost('localhost')).toBe('localhost');
    expect(tls.fingerprint).toBe(certificate.fingerprint256);
    expect(tls.pin).toMatch(/^sha256\/\/[A-Za-z0-9+/]{43}=$/);
    // Started again, the server keeps its certificate: workers' pins hold.
    expect(serverTls(serverConfig(), '0.0.0.0', 'https://ci.example.com:7070', join(dir.path, 'b'))!.certificate).toBe(tls.certificate);
  });

  it('"off" never serves HTTPS; "on" always does', () => {
    expect(serverTls(serverConfig('tls = "off"'), '0.0.0.0', undefined, join(dir.path, 'c'))).toBeUndefined();
    expect(serverTls(serverConfig('tls = "on"'), '127.0.0.1', undefined, join(dir.path, 'd'))?.generated).toBe(true);
  });

  it('serves a configured certificate and key, refusing a key that is not the certificate\'s', () => {
    const mine = generatedTls(join(dir.path, 'mine'), ['ci.example.com']);
    const other = generatedTls(join(dir.path, 'other'), ['ci.example.com']);
    writeFileSync(join(dir.path, 'server.crt'), mine.certificate);
    writeFileSync(join(dir.path, 'server.key'), mine.key);
    writeFileSync(join(dir.path, 'other.key'), other.key);
    const configured = serverTls(serverConfig('certificate = "server.crt"', 'key = "server.key"'), '127.0.0.1', undefined, join(dir.path, 'e'))!;
    expect(configured).toMatchObject({ generated: false, pin: mine.pin, fingerprint: mine.fingerprint });
    expect(() => serverTls(serverConfig('certificate = "server.crt"', 'key = "other.key"'), '127.0.0.1', undefined, join(dir.path, 'e')))
      .toThrow(`[server] tls: ${join(dir.path, 'other.key')} is not the key of the certificate in ${join(dir.path, 'server.crt')}`);
  });

  it('refuses a plain http:// public URL for a server that serves HTTPS, and a certificate without its key', () => {
    expect(() => serverTls(serverConfig(), '0.0.0.0', 'http://ci.example.com:7070', join(dir.path, 'f')))
      .toThrow('the public URL http://ci.example.com:7070 is plain http://, but the server serves HTTPS ([server] tls = "auto"): give its https:// URL, or set [server] tls = "off"');
    expect(() => serverConfig('certificate = "server.crt"')).toThrow(new ConfigError("config.toml:1:2: server: missing required key 'key'"));
  });
});
