/**
 * What idle and waiting agents cost in CPU (issue 12, point 3), measured on real processes:
 * a real `slipway server` (port 0, a temp state directory) and the agents of runs submitted
 * to it through its API. An agent's CPU is utime+stime of its process (all its threads) and
 * of its spawner (the process that starts its scripts, src/agent/spawner.ts) from
 * /proc/PID/stat at both ends of a window; its scripts (bash, sleep) are not in it, and the
 * window ends before they are reaped. The server's CPU over each window is shown too.
 *
 *   1. idle: 8 hand-started `slipway worker` processes (a token with the worker scope, given
 *      by --token-file) serving an activity of a run that has nothing for them yet: its 8
 *      tasks need a gate task of another activity (`sleep 3600 || true`, on one worker the
 *      server starts; its agent's CPU is shown apart). Once all 8 have registered and their
 *      CPU stopped moving (they are past fetching the source, waiting in their claim), 60 s.
 *   2. waiting, hand-started: the gate's sleep is ended, and the same 8 workers each run
 *      `sleep 30`; once all 8 sleeps run under them, the next 25 s (less if needed, so the
 *      window ends a second before the first sleep does).
 *   3. waiting, server-started: a run of 8 tasks `sleep 30` (a matrix of 8, max_workers 8)
 *      on the 8 agents the server starts for it; the same window. A server started as root
 *      runs each of its agents as a user of its own, so where only root may make cgroups
 *      these agents track their scripts through /proc: each section says which way its
 *      agents went (from their worker logs).
 *
 * Not part of `npm run bench` (about three minutes, most of it waiting). Run it with
 *
 *   node bench/agent-cpu.ts                 # the figures
 *   node bench/agent-cpu.ts --json          # one JSON object on stdout
 *   node bench/agent-cpu.ts --seconds 10    # shorter windows (idle 10 s; sleeps of 10 s, the least), a quick check
 *
 * Progress goes to stderr. Everything it starts is stopped by pid (agents before the
 * server), cgroups its agents leave are removed, and so is its temp directory, also on
 * failure or Ctrl-C.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const json = process.argv.includes('--json');
const secondsFlag = process.argv.indexOf('--seconds');
const idleSeconds = secondsFlag >= 0 ? Number(process.argv[secondsFlag + 1]) : 60;
if (!Number.isFinite(idleSeconds) || idleSeconds < 2) throw new Error('--seconds takes a number of seconds, at least 2');
/** At least 10 s: 8 agents the server starts must all be in their sleep at once. */
const sleepSeconds = Math.max(10, Math.round(idleSeconds / 2));
/** The waiting window: 25 s of a 30 s sleep, in proportion for shorter ones. */
const waitSeconds = (sleepSeconds * 5) / 6;
const agents = 8;

const repo = fileURLToPath(new URL('..', import.meta.url));
const cli = join(repo, 'src/cli/main.ts');
const tick = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

const say = (line: string): void => { process.stderr.write(`agent-cpu: ${line}\n`); };
const round = (n: number, digits = 3): number => Number(n.toFixed(digits));

// ---- /proc ------------------------------------------------------------------------------

interface Stat { ppid: number; state: string; ticks: number; childTicks: number; startTicks: number }

/** Fields of /proc/PID/stat after the command name: utime+stime (the process, all its threads) and its reaped children's. */
function stat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Field 3 (state) is the first after ") "; utime is field 14, so index 11 here.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: f[0]!, ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]), childTicks: Number(f[13]) + Number(f[14]), startTicks: Number(f[19]) };
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
}

function allPids(): number[] {
  return readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number);
}

const uptimeSeconds = (): number => Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
const loadavg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

interface Sample { at: number; ticks: Map<number, Stat | undefined> }

function sample(pids: number[]): Sample {
  return { at: performance.now(), ticks: new Map(pids.map((pid) => [pid, stat(pid)])) };
}

interface Usage { pid: number; cpuSeconds: number; reapedChildrenSeconds: number; alive: boolean }

function usage(start: Sample, end: Sample, pids: number[]): Usage[] {
  return pids.map((pid) => {
    const a = start.ticks.get(pid);
    const b = end.ticks.get(pid);
    if (!a || !b || a.startTicks !== b.startTicks) return { pid, cpuSeconds: NaN, reapedChildrenSeconds: NaN, alive: false };
    return { pid, cpuSeconds: (b.ticks - a.ticks) / tick, reapedChildrenSeconds: (b.childTicks - a.childTicks) / tick, alive: true };
  });
}

// ---- waiting for states -----------------------------------------------------------------

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, timeoutMs: number, check: () => T | undefined | false | Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await pause(200);
  }
}

/** Waits until none of `pids` used CPU for a whole second (they are past their start), at most `timeoutMs`; returns the ms it took. */
async function quiescent(pids: number[], timeoutMs: number): Promise<{ ms: number; settled: boolean }> {
  const t0 = performance.now();
  let before = sample(pids);
  while (performance.now() - t0 < timeoutMs) {
    await pause(1000);
    const now = sample(pids);
    if (usage(before, now, pids).every((u) => u.cpuSeconds === 0)) return { ms: performance.now() - t0, settled: true };
    before = now;
  }
  return { ms: performance.now() - t0, settled: false };
}

// ---- the sandbox: a state directory, the server, its API --------------------------------

const dir = mkdtempSync(join(tmpdir(), 'slipway-agent-cpu-'));
const state = join(dir, 'state');
const config = join(dir, 'config');
mkdirSync(state);
mkdirSync(config);
// A server started as root runs its workers as other users, who must reach the work root in the state directory.
chmodSync(dir, 0o711);
chmodSync(state, 0o711);
const env = { ...process.env, XDG_STATE_HOME: state, XDG_CONFIG_HOME: config, SLIPWAY_CONFIG: '', NO_COLOR: '1', SLIPWAY_COMMAND: 'slipway' };
const started: ChildProcess[] = [];

function start(args: string[], log: string): ChildProcess {
  const child = spawn(process.execPath, [cli, ...args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let text = '';
  const keep = (chunk: Buffer): void => { text += chunk.toString(); writeFileSync(join(dir, log), text); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return child;
}

const logOf = (name: string): string => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), 'utf8') : '');

let server: { child: ChildProcess; url: string; admin: string } | undefined;

/**
 * One request on a connection of its own: a kept-alive one may have been closed by the
 * server while this process was busy (it blocks in execFileSync), and fetch would reuse it.
 */
function request(method: string, path: string, body?: Buffer, type?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${server!.admin}` };
    if (body) Object.assign(headers, { 'content-type': type!, 'content-length': String(body.length) });
    const req = httpRequest(new URL(path, server!.url), { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function api<T>(method: string, path: string, body?: unknown, type = 'application/json'): Promise<T> {
  const payload = body === undefined ? undefined : type === 'application/json' ? Buffer.from(JSON.stringify(body)) : body as Buffer;
  const { status, text } = await request(method, path, payload, type);
  if (status < 200 || status > 299) throw new Error(`${method} ${path}: ${status} ${text}`);
  return JSON.parse(text) as T;
}

/** Uploads a source tree holding only `slipway.yml` and submits it: the run's id. */
async function submit(name: string, pipeline: string): Promise<string> {
  const tree = join(dir, `src-${name}`);
  mkdirSync(tree);
  writeFileSync(join(tree, 'slipway.yml'), pipeline);
  const archive = execFileSync('tar', ['-czf', '-', '-C', tree, 'slipway.yml']);
  const { digest } = await api<{ digest: string }>('POST', '/api/v1/sources', archive, 'application/gzip');
  const { run } = await api<{ run: { id: string } }>('POST', '/api/v1/runs', { source: digest, file: 'slipway.yml' });
  return run.id;
}

interface WorkerRow { id: string; activity: string; state: string; provider: string }
const workersOf = async (run: string): Promise<WorkerRow[]> => (await api<{ workers: WorkerRow[] }>('GET', `/api/v1/workers?run=${run}`)).workers;

/** Processes the server started (its agents), by the name an agent gives itself. */
function serverAgents(): number[] {
  const found = allPids().filter((pid) => stat(pid)?.ppid === server!.child.pid && cmdline(pid).startsWith('slipway-agent'));
  for (const pid of found) agentsSeen.add(pid);
  return found;
}

/** The spawners of `agentPids`: part of an agent's cost. */
function spawnersOf(agentPids: number[]): number[] {
  const ours = new Set(agentPids);
  const named = (pid: number): string => { try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { return ''; } };
  return allPids().filter((pid) => ours.has(stat(pid)?.ppid ?? 0) && named(pid) === 'slipway-spawner');
}

/** `sleep SECONDS` processes below any of `agentPids`. */
function sleepsUnder(agentPids: number[], seconds: number): number[] {
  const ours = new Set(agentPids);
  const parent = new Map(allPids().map((pid) => [pid, stat(pid)?.ppid ?? 0]));
  return [...parent.keys()].filter((pid) => {
    if (cmdline(pid) !== `sleep ${seconds}`) return false;
    for (let p = parent.get(pid) ?? 0; p > 1; p = parent.get(p) ?? 0) if (ours.has(p)) return true;
    return false;
  });
}

/** Which way an agent tracks its scripts' processes, from the note it writes in its log (the version before wrote none). */
function tracking(log: string): string {
  if (/runs in a cgroup of its own/.test(log)) return 'cgroup';
  const why = log.match(/as cgroups cannot be used: (.*?)(?: ---)?$/m)?.[1];
  if (why !== undefined) return `/proc (${why.replace(/slipway-agent-\d+/g, 'slipway-agent-PID')})`;
  return '/proc (no note: an agent from before cgroups)';
}

/** A worker's log as the server keeps it: what the agent said of itself comes first. */
async function workerLog(id: string): Promise<string> {
  const { status, text } = await request('GET', `/api/v1/workers/${id}/log`);
  return status === 200 ? text : '';
}

// ---- the measurements ---------------------------------------------------------------------

interface Figures {
  window_s: number;
  agents_cpu_s: number;
  per_agent_cpu_s: number[];
  per_agent_core_percent: number;
  agents_reaped_children_cpu_s: number;
  /** Of agents_cpu_s, what their spawners took. */
  spawners_cpu_s: number;
  server_cpu_s: number;
  load_before: string;
  load_after: string;
  tracking: string[];
  settle_ms?: number;
  settled?: boolean;
  gate_agent_cpu_s?: number;
}

function figures(start: Sample, end: Sample, agentPids: number[], serverPid: number): Omit<Figures, 'load_before' | 'load_after' | 'tracking'> {
  const window = (end.at - start.at) / 1000;
  const each = usage(start, end, agentPids);
  const dead = each.filter((u) => !u.alive);
  if (dead.length) throw new Error(`agents ${dead.map((u) => u.pid).join(', ')} ended during the window`);
  // A spawner counts where it was sampled at both ends (one that started in the window is not).
  const spawners = usage(start, end, [...start.ticks.keys()].filter((pid) => start.ticks.get(pid)?.ppid !== undefined && agentPids.includes(start.ticks.get(pid)!.ppid)))
    .filter((u) => u.alive);
  const spawnerOf = new Map(spawners.map((u) => [start.ticks.get(u.pid)!.ppid, u.cpuSeconds]));
  const perAgent = each.map((u) => u.cpuSeconds + (spawnerOf.get(u.pid) ?? 0));
  const total = perAgent.reduce((sum, seconds) => sum + seconds, 0);
  return {
    window_s: round(window, 1),
    agents_cpu_s: round(total, 2),
    spawners_cpu_s: round(spawners.reduce((sum, u) => sum + u.cpuSeconds, 0), 2),
    per_agent_cpu_s: perAgent.map((seconds) => round(seconds, 2)),
    per_agent_core_percent: round((100 * total) / agentPids.length / window, 2),
    agents_reaped_children_cpu_s: round(each.reduce((sum, u) => sum + u.reapedChildrenSeconds, 0), 2),
    server_cpu_s: round(usage(start, end, [serverPid])[0]!.cpuSeconds, 2),
  };
}

const matrix = `matrix: { n: [${Array.from({ length: agents }, (_, i) => `"${i + 1}"`).join(', ')}] }`;
const runStatus = async (runId: string): Promise<string> => (await api<{ run: { status: string } }>('GET', `/api/v1/runs/${runId}`)).run.status;

/**
 * 8 hand-started workers idle, then each running a sleep: their run's tasks wait on a gate
 * (a `sleep 3600 || true` on one worker the server starts; scripts run under bash -e), released by ending that sleep.
 */
async function handStarted(): Promise<{ idle: Figures; waiting: Figures }> {
  say(`idle: ${agents} hand-started workers on a run with nothing for them`);
  const runId = await submit('hand', `name: agent-cpu-hand
${matrix}
activities:
  gate: { max_workers: 1, idle_timeout: 30m }
  hand: { max_workers: ${agents}, idle_timeout: 30m }
steps:
  gate: { activity: gate, run: "sleep 3600 || true" }
  sleep: { activity: hand, over: [n], needs: [gate], run: sleep ${sleepSeconds} }
`);
  const token = execFileSync(process.execPath, [cli, 'tokens', 'create', 'agent-cpu', '--scope', 'worker'], { cwd: dir, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  const tokenFile = join(dir, 'worker.token');
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const workers = Array.from({ length: agents }, (_, i) => start(['worker', '--server', server!.url, '--activity', 'hand', '--token-file', tokenFile, '--work-dir', join(dir, `hand-${i}`)], `hand-${i}.log`));
  const pids = workers.map((w) => w.pid!);
  for (const pid of pids) agentsSeen.add(pid);
  await until(`${agents} workers to register`, 120_000, async () => {
    const exited = workers.findIndex((w) => w.exitCode !== null);
    if (exited >= 0) throw new Error(`worker ${exited} exited: ${logOf(`hand-${exited}.log`)}`);
    const registered = (await workersOf(runId)).filter((w) => w.activity === 'hand' && w.state === 'idle').length;
    return registered === agents && workers.every((_, i) => /registered as w-/.test(logOf(`hand-${i}.log`)));
  });
  const gateAgent = await until('the gate task to run', 120_000, () => serverAgents()[0]);
  const [gateSleep] = await until('the gate task to sleep', 120_000, () => { const found = sleepsUnder([gateAgent], 3600); return found.length === 1 && found; });
  // Registered is not yet idle: each fetches the source, then waits in its claim. Past that, its CPU stops moving.
  const settle = await quiescent(pids, 20_000);
  say(`idle: all registered; settled in ${Math.round(settle.ms)} ms${settle.settled ? '' : ' (NOT settled: measuring anyway)'}; measuring ${idleSeconds} s`);
  const load_before = loadavg();
  const spawners = spawnersOf(pids);
  say(`idle: and their ${spawners.length} spawners`);
  const all = [...pids, ...spawners, gateAgent, server!.child.pid!];
  const t0 = sample(all);
  await pause(idleSeconds * 1000);
  const t1 = sample(all);
  const load_after = loadavg();
  const ways = workers.map((_, i) => tracking(logOf(`hand-${i}.log`)));
  const idle = {
    ...figures(t0, t1, pids, server!.child.pid!),
    gate_agent_cpu_s: round(usage(t0, t1, [gateAgent])[0]!.cpuSeconds, 2),
    settle_ms: Math.round(settle.ms), settled: settle.settled, load_before, load_after, tracking: ways,
  };
  say(`waiting: the gate opens; the same ${agents} hand-started workers each run sleep ${sleepSeconds}`);
  process.kill(gateSleep!, 'SIGTERM');
  const waiting = { ...(await whileSleeping(runId, () => pids)), tracking: ways };
  const extra = (await workersOf(runId)).filter((w) => w.activity === 'hand').length - agents;
  if (extra) say(`waiting: the server started ${extra} workers of its own for the sleeps (the hand-started ones should have taken them all)`);
  await stopAll(pids, 'the hand-started workers');
  await stopAll([gateAgent], 'the gate agent');
  return { idle, waiting };
}

/** Once `agents` sleeps run below the agents `agentPids()` finds, their CPU until a second before the first sleep ends (at most waitSeconds). */
async function whileSleeping(runId: string, agentPids: () => number[]): Promise<Omit<Figures, 'tracking'>> {
  const [pids, sleeps] = await until(`${agents} sleep processes under ${agents} agents`, 180_000, async () => {
    const status = await runStatus(runId);
    if (status !== 'running') throw new Error(`the run is ${status} before its ${agents} sleeps all ran at once (started too far apart: try more --seconds)`);
    const found = agentPids();
    const sleeping = sleepsUnder(found, sleepSeconds);
    return sleeping.length === agents && ([found, sleeping] as const);
  });
  const now = uptimeSeconds();
  const left = Math.min(...sleeps.map((pid) => sleepSeconds - (now - stat(pid)!.startTicks / tick)));
  const window = Math.min(waitSeconds, left - 1);
  if (window < 1) throw new Error(`the sleeps started too far apart (${round(left, 1)} s left of the first): no window to measure`);
  // Only the agents the sleeps run under are measured (a server-started one with none is not).
  const busy = pids.filter((pid) => sleepsUnder([pid], sleepSeconds).length === 1);
  say(`waiting: all ${agents} sleeping under ${busy.length} agents; measuring ${round(window, 1)} s`);
  const load_before = loadavg();
  const spawners = spawnersOf(busy);
  say(`waiting: and their ${spawners.length} spawners`);
  const all = [...busy, ...spawners, server!.child.pid!];
  const t0 = sample(all);
  await pause(window * 1000);
  const t1 = sample(all);
  const load_after = loadavg();
  const stillSleeping = sleeps.filter((pid) => stat(pid)).length;
  if (stillSleeping !== agents) say(`waiting: only ${stillSleeping} of the sleeps were still running at the end of the window`);
  const result = { ...figures(t0, t1, busy, server!.child.pid!), load_before, load_after };
  await until('the run to finish', 120_000, async () => (await runStatus(runId)) !== 'running');
  return result;
}

/** 8 agents the server starts for a run of 8 sleeps (on a root server: each as a user of its own). */
async function serverStarted(): Promise<Figures> {
  say(`waiting: ${agents} agents the server starts, each running sleep ${sleepSeconds}`);
  const runId = await submit('sleep', `name: agent-cpu-sleep
${matrix}
activities:
  sleepers: { max_workers: ${agents}, idle_timeout: 30m }
steps:
  sleep: { activity: sleepers, over: [n], run: sleep ${sleepSeconds} }
`);
  const figures = await whileSleeping(runId, serverAgents);
  return { ...figures, tracking: await Promise.all((await workersOf(runId)).map((w) => workerLog(w.id).then(tracking))) };
}

// ---- stopping ---------------------------------------------------------------------------

async function stopAll(pids: number[], what: string): Promise<void> {
  const alive = (): number[] => pids.filter((pid) => stat(pid) && stat(pid)!.state !== 'Z');
  const kill = (pid: number, signal: NodeJS.Signals): void => {
    try {
      process.kill(pid, signal);
    } catch {
      // gone meanwhile
    }
  };
  for (const pid of alive()) kill(pid, 'SIGTERM');
  try {
    await until(`${what} to stop`, 20_000, () => alive().length === 0);
  } catch {
    say(`${what}: ${alive().join(', ')} still running after SIGTERM; SIGKILL`);
    for (const pid of alive()) kill(pid, 'SIGKILL');
  }
}

/** Every agent this bench started or saw the server start, for their cgroups at the end. */
const agentsSeen = new Set<number>();

/** The cgroup v2 directory this process is in (where the hand-started workers' subtrees are made), if any. */
function ownCgroupDir(): string | undefined {
  const path = /^0::(\/.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1];
  const mount = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((line) => line.split(' '))
    .find((f) => f[3] === '/' && f[f.indexOf('-') + 1] === 'cgroup2')?.[4];
  return path !== undefined && mount !== undefined ? join(mount, path) : undefined;
}

/** Removes an empty cgroup tree, its children first; leaves it when a process is still in it. */
function removeCgroup(path: string): void {
  for (const entry of readdirSync(path, { withFileTypes: true })) if (entry.isDirectory()) removeCgroup(join(path, entry.name));
  try {
    rmdirSync(path);
  } catch (error) {
    say(`cgroup ${path} stays: ${(error as Error).message}`);
  }
}

async function cleanup(): Promise<void> {
  // The agents first, while the server is up to hear that they stopped; then the server.
  const serverPid = server?.child.pid;
  const agentsLeft = server ? serverAgents() : [];
  for (const pid of agentsLeft) agentsSeen.add(pid);
  await stopAll([...agentsLeft, ...started.map((c) => c.pid!).filter((pid) => pid && pid !== serverPid)], 'the agents');
  if (serverPid) await stopAll([serverPid], 'the server');
  // An agent stops its subtree as it ends; one that was killed leaves it (the next agent there would sweep it).
  const home = ownCgroupDir();
  for (const pid of agentsSeen) {
    const subtree = home && join(home, `slipway-agent-${pid}`);
    if (subtree && existsSync(subtree)) {
      say(`removing the cgroup ${subtree} agent ${pid} left`);
      removeCgroup(subtree);
    }
  }
  // A root agent may mount its tasks' trees under the work root: none may stay when the directory goes.
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n').reverse()) {
    const point = line.split(' ')[1];
    if (point?.startsWith(`${dir}/`)) {
      say(`unmounting ${point}`);
      execFileSync('umount', ['-l', point]);
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

// ---- main -------------------------------------------------------------------------------

let interrupted = false;
process.on('SIGINT', () => { interrupted = true; void cleanup().finally(() => process.exit(130)); });

// What is measured: the commit, and whether the agents' sources differ from it (others may be editing them).
const dirty = execFileSync('git', ['-C', repo, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim() !== '';
const commit = `${execFileSync('git', ['-C', repo, 'log', '-1', '--format=%h %s'], { encoding: 'utf8' }).trim().slice(0, 80)}${dirty ? ' (+ uncommitted changes under src/)' : ''}`;
const before = { uptime: execFileSync('uptime', { encoding: 'utf8' }).trim() };
let result: { idle: Figures; waiting_hand_started: Figures; waiting_server_started: Figures } | undefined;
try {
  const child = start(['server', '--listen', '127.0.0.1:0'], 'server.log');
  const url = await until('the server to listen', 60_000, () => {
    if (child.exitCode !== null) throw new Error(`slipway server exited with ${child.exitCode}: ${logOf('server.log')}`);
    return /admin token/.test(logOf('server.log')) && logOf('server.log').match(/listening on (http:\/\/\S+)/)?.[1];
  });
  server = { child, url, admin: readFileSync(join(state, 'slipway', 'admin.token'), 'utf8').trim() };
  const hand = await handStarted();
  result = { idle: hand.idle, waiting_hand_started: hand.waiting, waiting_server_started: await serverStarted() };
} finally {
  if (!interrupted) await cleanup();
}
const after = { uptime: execFileSync('uptime', { encoding: 'utf8' }).trim() };

const report = { commit, clk_tck: tick, agents, idle_window_s: idleSeconds, sleep_s: sleepSeconds, uptime_before: before.uptime, uptime_after: after.uptime, ...result! };
if (json) {
  process.stdout.write(`${JSON.stringify(report)}\n`);
} else {
  const { idle: i, waiting_hand_started: h, waiting_server_started: w } = result!;
  const perAgent = (f: Figures): string => f.per_agent_cpu_s.map((s) => s.toFixed(2)).join(' ');
  const ways = (f: Figures): string => [...new Set(f.tracking)].join('; ') || '?';
  const lines = (f: Figures): string[] => [
    `  agents   ${f.agents_cpu_s.toFixed(2)} CPU s in all (their spawners ${f.spawners_cpu_s.toFixed(2)}), ${f.per_agent_core_percent.toFixed(2)} % of a core each; per agent: ${perAgent(f)}`,
    `  server   ${f.server_cpu_s.toFixed(2)} CPU s; children the agents reaped in the window: ${f.agents_reaped_children_cpu_s.toFixed(2)} CPU s`,
    `  tracking ${ways(f)}`,
    `  load     ${f.load_before} -> ${f.load_after}`,
  ];
  process.stdout.write([
    `agent CPU (utime+stime from /proc/PID/stat, CLK_TCK ${tick}) at ${commit}`,
    `idle: ${agents} hand-started workers (slipway worker, root) with nothing to do, over ${i.window_s} s (settled ${i.settle_ms} ms after registering${i.settled ? '' : ', NOT settled'})`,
    ...lines(i),
    `  the gate's agent (server-started, running sleep 3600): ${i.gate_agent_cpu_s!.toFixed(2)} CPU s`,
    `waiting: the same ${agents} hand-started workers each running sleep ${sleepSeconds}, over ${h.window_s} s`,
    ...lines(h),
    `waiting: ${agents} server-started agents each running sleep ${sleepSeconds}, over ${w.window_s} s`,
    ...lines(w),
    `uptime before: ${before.uptime}`,
    `uptime after:  ${after.uptime}`,
    '',
  ].join('\n'));
}
