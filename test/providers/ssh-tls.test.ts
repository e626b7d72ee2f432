/**
 * TLS for workers on other machines: a server with a generated certificate starts ssh
 * workers that fetch the agent and run their tasks over HTTPS, pinning that certificate;
 * an agent (and the bootstrap's download) refuses a server presenting another certificate
 * and sends it nothing, and refuses a plain http:// coordinator elsewhere unless allowed.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentFiles } from '../../src/api/agent-files.ts';
import { bootstrapScript, hostMachine } from '../../src/api/bootstrap-script.ts';
import { generatedTls, type ServerTls } from '../../src/api/server-certificate.ts';
import { certificateNames } from '../../src/api/worker-url.ts';
import { startEmbedded, type Embedded } from '../../src/coordinator/embedded.ts';
import { expandTasks } from '../../src/pipeline/expand.ts';
import { repoRoot } from '../helpers/cli.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { processesUnder, waitFor } from '../helpers/processes.ts';
import { keyPair, SshdHost } from '../helpers/sshd.ts';
import { tempDir } from '../helpers/temp.ts';

/** A server that answers every request and remembers it: a man in the middle, or a coordinator stand-in. */
async function recordingServer(tls: ServerTls | undefined, host: string): Promise<{ server: Server; url: string; seen: IncomingMessage[] }> {
  const seen: IncomingMessage[] = [];
  const answer = (req: IncomingMessage, res: import('node:http').ServerResponse) => {
    seen.push(req);
    res.writeHead(410, { 'content-type': 'application/json' }).end(JSON.stringify({ stop: 'the test is over' }));
  };
  const server = tls ? createHttpsServer({ cert: tls.certificate, key: tls.key }, answer) : createHttpServer(answer);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const where = host === '0.0.0.0' ? '127.0.0.1' : host;
  return { server, url: `${tls ? 'https' : 'http'}://${where}:${(server.address() as AddressInfo).port}`, seen };
}

/** Runs the agent as providers start it; resolves with its exit code and what it said. */
function runAgent(env: NodeJS.ProcessEnv, workDir: string): Promise<{ code: number | null; stderr: string }> {
  const agent = spawn(process.execPath, [join(repoRoot, 'src/agent/main.ts')], {
    env: { PATH: process.env.PATH, SLIPWAY_WORK_DIR: workDir, SLIPWAY_RECONNECT_MS: '5000', ...env }, stdio: ['pipe', 'ignore', 'pipe'], cwd: workDir,
  });
  agent.stdin!.end('tok_0123456789abcdefghijklmnop\n');
  let stderr = '';
  agent.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  return new Promise((resolve) => agent.on('exit', (code) => resolve({ code, stderr })));
}

describe('TLS between the server and workers on other machines', () => {
  const dir = tempDir();
  const home = join(dir.path, 'home');
  const savedHome = process.env.HOME;
  const servers: Server[] = [];
  let host: SshdHost;
  let embedded: Embedded;
  let tls: ServerTls;

  beforeAll(async () => {
    mkdirSync(home, { recursive: true });
    mkdirSync(join(dir.path, 'source'), { recursive: true });
    writeFileSync(join(dir.path, 'source', 'README'), 'source\n');
    process.env.HOME = home;
    const client = keyPair(join(dir.path, 'client_ed25519'));
    host = await SshdHost.start('t1', join(dir.path, 't1'), client.pub);
    const node = await new AgentFiles().runtime();
    host.seedRuntime(node.path, node.sha256);
    const state = join(dir.path, 'state');
    mkdirSync(state, { mode: 0o700 });
    tls = generatedTls(state, certificateNames('127.0.0.1'));
    embedded = await startEmbedded({
      stateDir: state,
      tls,
      settings: { heartbeatTimeoutMs: 3000, providerRetry: { attempts: 1, delayMs: 500, backoff: 1, maxDelayMs: 500 } },
      ssh: {
        known_hosts: join(state, 'known_hosts'),
        hosts: [{ name: host.name, address: '127.0.0.1', port: host.port, user: host.user, key: client.key, max_workers: 1, work_dir: host.workDir }],
      },
    });
  }, 60_000);

  afterAll(async () => {
    try {
      await Promise.race([embedded?.close(), new Promise((resolve) => setTimeout(resolve, 20_000))]);
      for (const server of servers) server.close();
    } finally {
      host?.cutOff();
    }
    process.env.HOME = savedHome;
    dir.remove();
  });

  it('serves HTTPS with a certificate it made (its key private), and an ssh worker fetches the agent and runs a task over it', async () => {
    expect(embedded.listening.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(statSync(join(dir.path, 'state', 'tls', 'server.key')).mode & 0o777).toBe(0o600);
    const pipeline = pipelineOf([{ name: 'work', run: { kind: 'inline', text: 'echo "on $SLIPWAY_WORKER"' } }], { sourceDir: join(dir.path, 'source') });
    pipeline.activities.builder = { ...pipeline.activities.builder!, provider: 'ssh', idleTimeoutMs: 500 };
    const { runId } = await embedded.coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: false });
    expect(await embedded.coordinator.waitForRun(runId)).toBe('succeeded');
    await embedded.coordinator.waitForWorkers(runId, 15_000);
    await waitFor(() => processesUnder(host.workDir).length === 0, 10_000, `${host.name} to be empty`);
  }, 30_000);

  it('an agent refuses a server presenting another certificate on the URL it was given, and sends it nothing', async () => {
    const other = generatedTls(join(dir.path, 'mitm'), certificateNames('127.0.0.1'));
    const mitm = await recordingServer(other, '127.0.0.1');
    servers.push(mitm.server);
    const work = join(dir.path, 'agent-work');
    mkdirSync(work);
    const { code, stderr } = await runAgent({ SLIPWAY_SERVER: mitm.url, SLIPWAY_SERVER_CERTIFICATE: tls.certificate }, work);
    expect(code, stderr).toBe(1);
    expect(stderr).toContain(`the server at ${mitm.url} did not present the certificate this worker was given (SHA-256 ${tls.fingerprint})`);
    expect(mitm.seen).toEqual([]);
  }, 30_000);

  it("the bootstrap's download pins the server's key: another server gets no token", async () => {
    const other = generatedTls(join(dir.path, 'mitm2'), certificateNames('127.0.0.1'));
    const mitm = await recordingServer(other, '127.0.0.1');
    servers.push(mitm.server);
    const work = join(dir.path, 'bootstrap-work');
    mkdirSync(work);
    const script = join(work, 'bootstrap.sh');
    writeFileSync(script, bootstrapScript({ nodeSha256: 'a'.repeat(64), agentSha256: 'b'.repeat(64), machine: hostMachine()!, trust: tls }));
    const ran = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn('sh', [script], {
        env: { PATH: process.env.PATH, HOME: work, SLIPWAY_SERVER: mitm.url, SLIPWAY_REGISTRATION_TOKEN: 'tok_0123456789abcdefghijklmnop', SLIPWAY_WORK_DIR: work, SLIPWAY_ROOT: work },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    expect(ran.code, ran.stderr).toBe(1);
    expect(ran.stderr).toMatch(/public key does not match pinned public key|does not match pinned/);
    expect(ran.stderr).toContain(`could not download node from ${mitm.url}`);
    expect(mitm.seen).toEqual([]);
  }, 30_000);

  const external = Object.values(networkInterfaces()).flat().find((address) => address && address.family === 'IPv4' && !address.internal)?.address;

  it.skipIf(!external)('an agent refuses a plain http:// coordinator on another machine, unless told it may', async () => {
    const plain = await recordingServer(undefined, '0.0.0.0');
    servers.push(plain.server);
    const url = plain.url.replace('127.0.0.1', external!);
    const work = join(dir.path, 'plain-work');
    mkdirSync(work);
    const refused = await runAgent({ SLIPWAY_SERVER: url }, work);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain(`refusing plain HTTP to a coordinator on another machine (${url})`);
    expect(plain.seen).toEqual([]);

    // Allowed, it registers there (and is told to stop).
    const allowed = await runAgent({ SLIPWAY_SERVER: url, SLIPWAY_ALLOW_PLAIN_HTTP: '1' }, work);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect(plain.seen.map((req) => req.url)).toEqual(['/api/v1/worker/register']);
  }, 30_000);

  it('a coordinator served over plain HTTP refuses a run for machines elsewhere unless plain_http_workers says so', async () => {
    const state = join(dir.path, 'plain-state');
    const ssh = { known_hosts: join(state, 'known_hosts'), hosts: [{ name: 'far', address: '192.0.2.1', port: 22, user: 'nobody', key: join(state, 'key'), max_workers: 1, work_dir: '~/slipway' }] };
    const pipeline = pipelineOf([{ name: 'work', run: { kind: 'inline', text: 'true' } }], { sourceDir: join(dir.path, 'source') });
    pipeline.activities.builder = { ...pipeline.activities.builder!, provider: 'ssh' };
    const plain = await startEmbedded({ stateDir: state, publicUrl: 'http://192.0.2.10:7070', ssh });
    try {
      await expect(plain.coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: false }))
        .rejects.toThrow('activity builder: the coordinator is served over plain HTTP at http://192.0.2.10:7070, which would carry the workers\' tokens in clear');
    } finally {
      await plain.close();
    }
  }, 30_000);
});

