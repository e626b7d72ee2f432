import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { coordinatorUrls, isLoopbackUrl } from '../../src/api/worker-url.ts';
import { Sandbox } from '../helpers/cli.ts';
import { startServer } from '../helpers/server-process.ts';

const ec2Pipeline = `name: remote
activities:
  builder:
    provider: ec2
steps:
  build:
    activity: builder
    run: "true"
`;

describe('the URL machines elsewhere reach the coordinator at', () => {
  it('is loopback for local agents, and a real address instead of a wildcard for the rest', () => {
    expect(coordinatorUrls('http://127.0.0.1:7070')).toEqual({ local: 'http://127.0.0.1:7070', remote: 'http://127.0.0.1:7070' });
    const external = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address ?? '127.0.0.1';
    expect(coordinatorUrls('http://0.0.0.0:7070')).toEqual({ local: 'http://127.0.0.1:7070', remote: `http://${external}:7070` });
    expect(coordinatorUrls('http://0.0.0.0:7070', 'https://ci.example.com/slipway/')).toEqual({ local: 'http://127.0.0.1:7070', remote: 'https://ci.example.com/slipway' });
    expect([isLoopbackUrl('http://localhost:1'), isLoopbackUrl('http://127.3.0.1'), isLoopbackUrl('http://[::1]:7'), isLoopbackUrl('http://10.0.0.1')]).toEqual([true, true, true, false]);
  });

  const box = new Sandbox();
  afterAll(() => box.cleanup());

  it('is checked before a run starts: EC2 workers are never given a coordinator only this machine can reach', async () => {
    const file = box.write({ 'slipway.yml': ec2Pipeline });
    const result = await box.run(['run', file], { AWS_REGION: 'eu-west-1' });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/activity builder: EC2 instances cannot reach a coordinator at http:\/\/127\.0\.0\.1:\d+, which only this machine can: run a server they can reach \(slipway server --listen 0\.0\.0\.0:7070, or \[server\] public_url\)/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('is printed by the server, and --public-url sets it', async () => {
    const named = await startServer(box, 0, ['--public-url', 'http://build.example.internal:7070']);
    named.server.kill('SIGTERM');
    const loopback = await startServer(box);
    loopback.server.kill('SIGTERM');
    const printed = (await named.server.result).stdout + (await loopback.server.result).stdout;
    expect(printed).toContain('workers on other machines reach it at http://build.example.internal:7070\n');
    expect(printed).toMatch(/workers on other machines reach it at http:\/\/127\.0\.0\.1:\d+ \(this machine only: --listen 0\.0\.0\.0:PORT or --public-url URL for ssh hosts and EC2\)/);
  });

  it('refuses a public URL that is not one, from the flag as from the config', async () => {
    const flag = await box.run(['server', '--listen', '127.0.0.1:0', '--public-url', 'ftp://build.example']);
    expect([flag.code, flag.stderr]).toEqual([2, "--public-url takes an http:// or https:// URL, not 'ftp://build.example'\n"]);
    box.write({ 'config.toml': '[server]\npublic_url = "http://build example:7070"\n' });
    const checked = await box.run(['config', 'check', join(box.source, 'config.toml')]);
    expect(checked.code).toBe(2);
    expect(checked.stderr).toMatch(/config\.toml:2:\d+: server\.public_url: expected an http:\/\/ or https:\/\/ URL/);
  });
});
