import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentFiles } from '../../src/api/agent-files.ts';
import { startEmbedded, type Embedded } from '../../src/coordinator/embedded.ts';
import type { Step } from '../../src/pipeline/types.ts';
import { expandTasks } from '../../src/pipeline/expand.ts';
import type { MachineHandle } from '../../src/providers/provider.ts';
import { SshProvider } from '../../src/providers/ssh/ssh-provider.ts';
import { runReport } from '../../src/store/run-report.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { parentProbe } from '../helpers/parent-probe.ts';
import { processesUnder, waitFor } from '../helpers/processes.ts';
import { keyPair, SshdHost } from '../helpers/sshd.ts';
import { tempDir } from '../helpers/temp.ts';

describe('the ssh provider on real OpenSSH hosts', () => {
  const dir = tempDir();
  const home = join(dir.path, 'home');
  const savedHome = process.env.HOME;
  const hosts: SshdHost[] = [];
  let client: { key: string; pub: string };
  let embedded: Embedded;
  let knownHosts: string;

  const sshHost = (host: SshdHost, maxWorkers = 2) => ({
    name: host.name, address: '127.0.0.1', port: host.port, user: host.user, key: client.key, max_workers: maxWorkers, work_dir: host.workDir,
  });

  /** A pipeline whose one activity runs on the ssh hosts. */
  function sshPipeline(step: Partial<Step>, n: number, maxWorkers: number) {
    const pipeline = pipelineOf([{ name: 'work', over: ['n'], ...step }], {
      matrix: { n: Array.from({ length: n }, (_, i) => String(i + 1)) }, maxWorkers, sourceDir: join(dir.path, 'source'),
    });
    pipeline.activities.builder = { ...pipeline.activities.builder!, provider: 'ssh', idleTimeoutMs: 500 };
    return pipeline;
  }

  /** The host each worker of a run was started on, from its machine handle. */
  async function hostsOfWorkers(runId: string): Promise<Map<string, string>> {
    const rows = await embedded.store.db.selectFrom('workers').select(['id', 'machine']).where('run_id', '=', runId).execute();
    return new Map(rows.filter((r) => r.machine).map((r) => [r.id, String((JSON.parse(r.machine!) as { host: string }).host)]));
  }

  beforeAll(async () => {
    mkdirSync(home, { recursive: true });
    mkdirSync(join(dir.path, 'source'), { recursive: true });
    writeFileSync(join(dir.path, 'source', 'README'), 'source\n');
    // ~/.ssh/known_hosts must stay untouched: HOME points where the test can look.
    process.env.HOME = home;
    client = keyPair(join(dir.path, 'client_ed25519'));
    for (const name of ['h1', 'h2', 'h3']) hosts.push(await SshdHost.start(name, join(dir.path, name), client.pub));
    // The coordinator serves the node it runs on: the hosts have it already, as after a first worker.
    const node = await new AgentFiles().runtime();
    for (const host of hosts) host.seedRuntime(node.path, node.sha256);
    const state = join(dir.path, 'state');
    knownHosts = join(state, 'known_hosts');
    embedded = await startEmbedded({
      stateDir: state,
      settings: { heartbeatTimeoutMs: 3000, providerRetry: { attempts: 3, delayMs: 500, backoff: 1, maxDelayMs: 500 } },
      ssh: { known_hosts: knownHosts, hosts: hosts.map((host) => sshHost(host)) },
    });
  }, 60_000);

  afterAll(async () => {
    try {
      await Promise.race([embedded?.close(), new Promise((resolve) => setTimeout(resolve, 20_000))]);
    } finally {
      for (const host of hosts) host.cutOff();
    }
    process.env.HOME = savedHome;
    dir.remove();
  });

  it('spreads workers over the hosts, pinning each host key in its own known_hosts on first use', async () => {
    // Each task also looks for a token in the environment of every agent and task on its host.
    // Two greps for the whole host, not two per process: six tasks each forking twice for
    // every process of a busy machine took longer than the test on a loaded CI.
    const snoop = `found=$(grep -lsaZ SLIPWAY_MACHINE= /proc/[0-9]*/environ | xargs -0 -r grep -lsa TOKEN || true)
if [ -n "$found" ]; then echo "a token in $found"; exit 3; fi`;
    // And it tries to read its own agent, which runs as its uid (parentProbe exits 3 if it could).
    // Neither is retried: a task that found anything fails the run at once. Then it makes the
    // host's node readable again, hoping the next agent there (the next test's) is open to it.
    const reopen = `chmod 700 ${hosts.map((host) => `"${host.workDir}"/runtime/node-*`).join(' ')} 2> /dev/null || true`;
    const pipeline = sshPipeline({
      run: { kind: 'inline', text: `${snoop}\n${parentProbe}\n${reopen}\nsleep 2; echo "$SLIPWAY_WORKER"` },
      retry: { attempts: 1, delayMs: 0, backoff: 1, maxDelayMs: 0 },
    }, 6, 6);
    const started = Date.now();
    const { runId } = await embedded.coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: false });
    expect(await embedded.coordinator.waitForRun(runId)).toBe('succeeded');
    console.log(`6 two-second tasks on 3 ssh hosts that have node but not the agent: ${Date.now() - started} ms`);
    const report = await runReport(embedded.store.db, runId);
    const hostOf = await hostsOfWorkers(runId);
    // Six workers wanted at once, at most two per host: every host got some.
    expect(new Set(hostOf.values())).toEqual(new Set(['h1', 'h2', 'h3']));
    const ranOn = new Set(report.tasks.map((task) => hostOf.get(task.attempts.at(-1)!.worker!)));
    expect(ranOn.size).toBeGreaterThanOrEqual(2);

    const pinned = readFileSync(knownHosts, 'utf8').trim().split('\n').sort();
    const expected = hosts.map((host) => `[127.0.0.1]:${host.port} ${host.hostKey.pub.split(' ').slice(0, 2).join(' ')}`).sort();
    expect(pinned).toEqual(expected);
    expect(existsSync(join(home, '.ssh'))).toBe(false);
    await embedded.coordinator.waitForWorkers(runId, 15_000);
    // Stopped machines leave no process behind on their host.
    for (const host of hosts) await waitFor(() => processesUnder(host.workDir).length === 0, 10_000, `${host.name} to be empty`);
  });

  it('carries on when a host vanishes mid-run: the lost attempt runs again on another host', async () => {
    const pipeline = sshPipeline({
      run: { kind: 'inline', text: `${parentProbe}\nsleep 3` },
      retry: { attempts: 3, delayMs: 200, backoff: 1, maxDelayMs: 200 },
    }, 4, 4);
    const { runId } = await embedded.coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: false });
    const victim = hosts[0]!;
    await waitFor(async () => {
      const hostOf = await hostsOfWorkers(runId);
      const busy = await embedded.store.db.selectFrom('workers').select('id').where('run_id', '=', runId).where('state', '=', 'busy').execute();
      return busy.some((w) => hostOf.get(w.id) === victim.name);
    }, 30_000, `a task running on ${victim.name}`).catch(async (error: unknown) => {
      console.log(await embedded.store.db.selectFrom('workers').selectAll().where('run_id', '=', runId).execute());
      throw error;
    });
    victim.cutOff();
    expect(await embedded.coordinator.waitForRun(runId)).toBe('succeeded');
    const report = await runReport(embedded.store.db, runId);
    const hostOf = await hostsOfWorkers(runId);
    const retried = report.tasks.filter((task) => task.attempts.some((a) => a.outcome === 'lost'));
    expect(retried.length).toBeGreaterThanOrEqual(1);
    for (const task of retried) {
      const lost = task.attempts.find((a) => a.outcome === 'lost')!;
      const last = task.attempts.at(-1)!;
      expect(hostOf.get(lost.worker!)).toBe(victim.name);
      expect(last.outcome).toBe('succeeded');
      expect(hostOf.get(last.worker!)).not.toBe(victim.name);
    }
    await embedded.coordinator.waitForWorkers(runId, 15_000);
  });

  it('stops what runs on a host for a worker the store does not know, found by its machine marker', async () => {
    const host = hosts[1]!;
    // Left by the host's login user, as a worker's task would be.
    const leaked = spawn('sleep', ['300'], {
      env: { PATH: process.env.PATH, SLIPWAY_MACHINE: join(host.workDir, 'w-leaked1') }, detached: true, stdio: 'ignore', uid: host.login.uid, gid: host.login.gid,
    });
    const found = await embedded.coordinator.healthCheck().then(() => waitFor(() => leaked.exitCode !== null || leaked.signalCode !== null, 15_000, 'the leaked machine to be stopped'));
    expect(found).toBeUndefined();
    expect(leaked.signalCode).toBe('SIGTERM');
  }, 30_000);

  it('opens one session per operation, so a slow login shell costs once per start, stop or look at a host, not once per command or worker', async () => {
    // A host of its own: the coordinator's health checks open sessions on the others.
    const host = await SshdHost.start('h4', join(dir.path, 'h4'), client.pub);
    hosts.push(host);
    // The bootstrap is the coordinator's business; here it only has to leave a marked process running.
    const bootstrap = createServer((_request, response) => response.end('SLIPWAY_MACHINE=$SLIPWAY_ROOT/$SLIPWAY_WORKER exec sleep 300\n'));
    await new Promise<void>((resolve) => bootstrap.listen(0, '127.0.0.1', resolve));
    const serverUrl = `http://127.0.0.1:${(bootstrap.address() as AddressInfo).port}`;
    const started: MachineHandle[] = [];
    const provider = new SshProvider({ hosts: [sshHost(host, 3)], knownHosts, liveMachines: async () => started });
    const sessionsFor = async (operation: () => Promise<unknown>): Promise<number> => {
      const before = host.sessions();
      await operation();
      // sshd logs a session's start before it runs the command, whose answer came back already.
      await waitFor(() => host.sessions() > before, 10_000, `sshd on ${host.name} to log a session`);
      return host.sessions() - before;
    };
    try {
      for (const n of [1, 2, 3]) {
        expect(await sessionsFor(async () => {
          started.push(await provider.start({
            owner: 's-test', workerId: `w-sessions${n}`, runId: 'r-none', activity: 'builder', serverUrl, registrationToken: 'x'.repeat(43), agentLogPath: join(dir.path, 'agent.log'),
          }));
        }), `start ${n}`).toBe(1);
      }
      let states: string[] = [];
      expect(await sessionsFor(async () => { states = await Promise.all(started.map((m) => provider.status(m))); }), 'status of 3 machines').toBe(1);
      expect(states).toEqual(['running', 'running', 'running']);
      let found: string[] = [];
      expect(await sessionsFor(async () => { found = (await provider.inventory()).map((m) => m.workerId).sort(); }), 'inventory').toBe(1);
      expect(found).toEqual(['w-sessions1', 'w-sessions2', 'w-sessions3']);
      expect(await sessionsFor(() => provider.survey()), 'survey').toBe(1);
      expect(await sessionsFor(() => provider.stop(started[0]!)), 'stop').toBe(1);
      expect(await sessionsFor(async () => { states = await Promise.all(started.map((m) => provider.status(m))); }), 'status of 3 machines').toBe(1);
      expect(states).toEqual(['gone', 'running', 'running']);
    } finally {
      await Promise.all(started.map((m) => provider.stop(m)));
      provider.close();
      bootstrap.close();
    }
    expect(processesUnder(host.workDir)).toEqual([]);
  }, 60_000);

  it('refuses a host whose key changed, saying so, and leaves the pinned key as it was', async () => {
    const host = hosts[1]!;
    const other = keyPair(join(dir.path, 'impostor_ed25519'));
    const file = join(dir.path, 'changed_known_hosts');
    const line = `[127.0.0.1]:${host.port} ${other.pub.split(' ').slice(0, 2).join(' ')}\n`;
    writeFileSync(file, line);
    const provider = new SshProvider({ hosts: [sshHost(host)], knownHosts: file, liveMachines: async () => [] });
    try {
      await expect(provider.start({
        owner: 's-test', workerId: 'w-keycheck', runId: 'r-none', activity: 'builder', serverUrl: 'http://127.0.0.1:9', registrationToken: 'x'.repeat(43), agentLogPath: join(dir.path, 'agent.log'),
      })).rejects.toThrow(new RegExp(`h2: ssh to h2 refused: the host key of \\[127\\.0\\.0\\.1\\]:${host.port} changed: .* pins ssh-ed25519 SHA256:\\S+, the host offered ssh-ed25519 SHA256:\\S+; if the host was rebuilt`));
    } finally {
      provider.close();
    }
    expect(readFileSync(file, 'utf8')).toBe(line);
    expect(existsSync(join(home, '.ssh'))).toBe(false);
  }, 30_000);
});
