/**
 * `npm run chaos`: runs pipelines on a real coordinator with local workers while injecting
 * faults at random — agents killed or frozen, a coordinator SIGKILLed and restarted,
 * provider starts refused, attempts hanging past their timeout — then checks what must
 * hold whatever happened: no task lost, no task succeeding twice, no worker recorded as
 * alive, no process left. The fault schedule follows from the seed (timings on a real
 * machine still vary). `-- --json` prints one JSON object; the exit code is 0 only if
 * every invariant held. `-- --store postgres --coordinators 3` runs three coordinator
 * processes on one PostgreSQL database (SLIPWAY_DATABASE_URL's, or a private cluster),
 * runs submitted to each in turn, and kills any of them.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machineMarker } from '../src/agent/machine-marker.ts';
import { pidsByMarker } from '../src/agent/process-tree.ts';
import { ApiClient } from '../src/cli/api-client.ts';
import { localAdminToken } from '../src/config/admin-token.ts';
import { packArchive } from '../src/coordinator/source-archive.ts';
import type { RunReport } from '../src/engine/report.ts';
import { parseDuration } from '../src/pipeline/duration.ts';
import { processesUnder } from '../test/helpers/processes.ts';
import { hashSeed, SeededRandom } from '../test/helpers/seeded-random.ts';
import { freshSchema, startPostgresCluster, type PostgresCluster } from '../test/helpers/postgres.ts';
import { agentPids, freePort } from '../test/helpers/server-process.ts';
import { CoordinatorHandle } from './coordinator-handle.ts';
import { checkRun } from './invariants.ts';

const { values: args } = parseArgs({
  options: {
    seed: { type: 'string' },
    runs: { type: 'string', default: '6' },
    parallel: { type: 'string', default: '3' },
    'time-limit': { type: 'string', default: '5m' },
    'max-faults': { type: 'string' },
    'heartbeat-timeout': { type: 'string', default: '2s' },
    'start-failure-rate': { type: 'string', default: '0.25' },
    store: { type: 'string', default: 'sqlite' },
    coordinators: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  process.stdout.write(`usage: npm run chaos -- [--seed N] [--runs 6] [--parallel 3] [--time-limit 5m] [--max-faults N]
                      [--heartbeat-timeout 2s] [--start-failure-rate 0.25]
                      [--store sqlite|postgres] [--coordinators 1] [--json]
Runs the pipelines of chaos/pipelines while injecting faults; replay a run with its --seed.
Faults come one of each kind first, every 0.3-1 s (so that short runs meet every kind),
then every 0.8-2.5 s, until the runs end or --max-faults were injected (default: no limit; a loaded machine's runs then meet more faults).
--store postgres uses a fresh schema of SLIPWAY_DATABASE_URL's database, or a private
cluster started (and removed) here; --coordinators N (PostgreSQL only) runs N coordinator
processes on it, submits runs to each in turn, and kills any one of them at a time.\n`);
  process.exit(0);
}

const seed = args.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(args.seed) >>> 0;
const runCount = Number(args.runs);
const parallel = Number(args.parallel);
const timeLimitMs = parseDuration(args['time-limit']);
const maxFaults = args['max-faults'] === undefined ? Infinity : Number(args['max-faults']);
const heartbeatTimeoutMs = parseDuration(args['heartbeat-timeout']);
const startFailureRate = Number(args['start-failure-rate']);
const storeKind = args.store;
const coordinatorCount = Number(args.coordinators);
if (storeKind !== 'sqlite' && storeKind !== 'postgres') usageError(`--store: '${storeKind}' is not a store kind; use sqlite or postgres`);
if (!Number.isInteger(coordinatorCount) || coordinatorCount < 1) usageError(`--coordinators: '${args.coordinators}' is not a whole number of at least 1`);
if (coordinatorCount > 1 && storeKind !== 'postgres') usageError('--coordinators: several coordinators share a PostgreSQL store; add --store postgres');
const random = new SeededRandom(hashSeed('chaos', seed));
const pipelines = ['matrix', 'chain'].map((name) => fileURLToPath(new URL(`./pipelines/${name}/`, import.meta.url)));

type FaultKind = 'agent-killed' | 'agent-frozen' | 'heartbeat-delayed' | 'coordinator-killed';
const faultKinds: readonly FaultKind[] = ['agent-killed', 'agent-frozen', 'heartbeat-delayed', 'coordinator-killed'];
const faults: Record<FaultKind | 'start-failure' | 'task-timeout', number> = {
  'agent-killed': 0, 'agent-frozen': 0, 'heartbeat-delayed': 0, 'coordinator-killed': 0, 'start-failure': 0, 'task-timeout': 0,
};

const root = mkdtempSync(join(tmpdir(), 'slipway-chaos-'));
const stateDir = join(root, 'state');
const workRoot = join(stateDir, 'workers');
const startedAt = Date.now();
const out = args.json ? process.stderr : process.stdout;
const say = (line: string): void => { out.write(`${line}\n`); };
const elapsed = (): string => `+${((Date.now() - startedAt) / 1000).toFixed(1).padStart(5)}s`;

const database = storeKind === 'postgres' ? await openDatabase() : undefined;
// They share the state directory (its blob store holds the runs' sources), as servers behind one load balancer share a volume.
const coordinators: CoordinatorHandle[] = [];
for (let i = 1; i <= coordinatorCount; i++) {
  const logPath = join(root, coordinatorCount === 1 ? 'coordinator.log' : `coordinator-${i}.log`);
  coordinators.push(new CoordinatorHandle({ stateDir, port: await freePort(), seed, startFailureRate, heartbeatTimeoutMs, logPath, store: database?.url }));
}
const frozen = new Set<number>();
const violations: string[] = [];
const reports: RunReport[] = [];
let tasksLost = 0;
let leaked = 0;

const storeShown = database ? `PostgreSQL${coordinatorCount > 1 ? `, ${coordinatorCount} coordinators` : ''}` : 'SQLite';
say(`chaos: seed ${seed}, ${runCount} runs (${parallel} at a time) on ${storeShown}, heartbeat timeout ${heartbeatTimeoutMs / 1000}s, ${Math.round(startFailureRate * 100)}% of starts refused`);
try {
  // One after the other: the first migrates the store and makes the admin token the others read.
  for (const coordinator of coordinators) await coordinator.start();
  const apis = coordinators.map((coordinator) => new ApiClient(new URL(coordinator.url), localAdminToken(stateDir)!));
  /** The API of coordinator `i` (counted round), or of the first running one if that one is down. */
  const apiOf = (i: number): ApiClient => {
    const at = i % coordinators.length;
    return coordinators[at]!.running ? apis[at]! : apis[coordinators.findIndex((c) => c.running)] ?? apis[at]!;
  };
  const finished = await runAll(apiOf);
  await settle(apiOf(0));
  const api = apiOf(0);
  for (const report of finished) {
    const { workers } = await api.json<{ workers: { id: string; state: string }[] }>('GET', `/api/v1/workers?run=${report.run.id}`);
    const fresh = await api.json<RunReport>('GET', `/api/v1/runs/${report.run.id}`);
    const verdict = checkRun(fresh, workers);
    tasksLost += verdict.lost.length;
    violations.push(...verdict.lost.map((line) => `lost task ${line}`), ...verdict.violations);
    reports.push(fresh);
    faults['task-timeout'] += fresh.tasks.flatMap((t) => t.attempts).filter((a) => a.outcome === 'timed_out').length;
    const outcomes = fresh.tasks.flatMap((t) => t.attempts.map((a) => a.outcome ?? 'open'));
    const count = (outcome: string) => outcomes.filter((o) => o === outcome).length;
    say(`run ${fresh.run.id} ${fresh.run.pipeline} ${fresh.run.status}: ${fresh.tasks.length} tasks, ${outcomes.length} attempts (${count('lost')} lost, ${count('timed_out')} timed out)`);
  }
} catch (error) {
  violations.push(`the harness failed: ${(error as Error).message}`);
} finally {
  for (const pid of frozen) signal(pid, 'SIGCONT');
  await Promise.all(coordinators.map((coordinator) => coordinator.stop()));
  leaked = await leftovers();
  faults['start-failure'] = coordinators.reduce((sum, coordinator) => sum + coordinator.startFailures, 0);
  await database?.close();
}

const completed = reports.filter((r) => r.run.status !== 'running').length;
const ok = violations.length === 0 && tasksLost === 0 && leaked === 0 && completed === runCount;
if (args.json) {
  process.stdout.write(`${JSON.stringify({
    seed, store: storeKind, coordinators: coordinatorCount, faults, runs: completed, runs_submitted: runCount, tasks_lost: tasksLost, leaked_processes: leaked, violations,
    duration_s: Math.round((Date.now() - startedAt) / 100) / 10, ok,
  })}\n`);
} else {
  say(`faults: ${Object.entries(faults).map(([kind, n]) => `${kind} ${n}`).join(', ')}`);
  say(`runs completed: ${completed} of ${runCount}`);
  say(`tasks lost: ${tasksLost}`);
  say(`leaked processes: ${leaked}`);
  say(violations.length === 0 ? 'invariants: all held' : `invariants broken:\n  ${violations.join('\n  ')}`);
  if (!ok) say(`coordinator logs: ${root}/coordinator*.log; replay with --seed ${seed}`);
}
if (ok) rmSync(root, { recursive: true, force: true });
process.exitCode = ok ? 0 : 1;

/** Submits the runs, `parallel` at a time and to each coordinator in turn, injecting faults until all have finished or time is up. */
async function runAll(apiOf: (i: number) => ApiClient): Promise<RunReport[]> {
  const pending = Array.from({ length: runCount }, (_, i) => pipelines[i % pipelines.length]!);
  const active = new Set<string>();
  const done: RunReport[] = [];
  const schedule = [...faultKinds].sort(() => random.next() - 0.5);
  let nextFaultAt = Date.now() + random.range(1500, 3000);
  let injected = 0;
  while ((pending.length > 0 || active.size > 0) && Date.now() - startedAt < timeLimitMs) {
    for (const [i, coordinator] of coordinators.entries()) {
      if (coordinator.running) continue;
      await coordinator.start();
      say(`${elapsed()} coordinator ${i + 1} restarted`);
    }
    while (active.size < parallel && pending.length > 0) active.add(await submit(apiOf(runCount - pending.length), pending.shift()!));
    for (const [i, runId] of [...active].entries()) {
      // Each poll through another coordinator: any of them answers for every run.
      const report = await apiOf(i).json<RunReport>('GET', `/api/v1/runs/${runId}`).catch(() => undefined);
      if (report && report.run.status !== 'running') {
        active.delete(runId);
        done.push(report);
        say(`${elapsed()} run ${runId} ${report.run.status}`);
      }
    }
    if (Date.now() >= nextFaultAt && active.size > 0 && injected < maxFaults) {
      const kind = schedule.shift() ?? random.pick(faultKinds);
      // A fault with no agent to land on (between workers, say) is tried again next time, so
      // every kind of the schedule is injected, not dropped.
      if (await inject(kind)) injected += 1;
      else schedule.unshift(kind);
      nextFaultAt = Date.now() + (schedule.length > 0 ? random.range(300, 1000) : random.range(800, 2500));
    }
    await sleep(250);
  }
  if (active.size > 0 || pending.length > 0) violations.push(`${active.size + pending.length} runs did not finish within ${args['time-limit']}`);
  return done;
}

async function submit(api: ApiClient, sourceDir: string): Promise<string> {
  const uploads = join(root, 'uploads');
  mkdirSync(uploads, { recursive: true });
  const archive = join(uploads, 'source.tar.gz');
  await packArchive(sourceDir, archive);
  const { digest } = await api.upload<{ digest: string }>('/api/v1/sources', archive, 'application/gzip');
  const { run } = await api.json<{ run: { id: string } }>('POST', '/api/v1/runs', { source: digest, file: 'slipway.yml' });
  say(`${elapsed()} submitted ${run.id} (${sourceDir.split('/').at(-2)})`);
  return run.id;
}

/** Injects a fault of `kind`; false when none could be (no agent to land on). */
async function inject(kind: FaultKind): Promise<boolean> {
  if (kind === 'coordinator-killed') {
    const downMs = random.range(300, 2500);
    // Drawn only when there is a choice, so a seed replays as it did with one coordinator.
    const which = coordinators.length > 1 ? random.int(coordinators.length) : 0;
    await coordinators[which]!.kill();
    faults[kind]++;
    say(`${elapsed()} ${kind}${coordinators.length > 1 ? ` (${which + 1})` : ''}, down for ${(downMs / 1000).toFixed(1)}s`);
    await sleep(downMs);
    await coordinators[which]!.start();
    return true;
  }
  const candidates = agentPids(workRoot).filter((pid) => !frozen.has(pid)).sort((a, b) => a - b);
  // Agents in the middle of a task (their title says wa-…) are where a fault hurts most.
  const busy = candidates.filter((pid) => titleOf(pid).startsWith('slipway-agent wa-'));
  const agents = busy.length > 0 ? busy : candidates;
  if (agents.length === 0) return false;
  const pid = agents[random.int(agents.length)]!;
  if (kind === 'agent-killed') {
    signal(pid, 'SIGKILL');
  } else {
    // Frozen past the heartbeat timeout, the worker is lost; for less, its heartbeats are only late.
    const forMs = kind === 'agent-frozen' ? random.range(heartbeatTimeoutMs + 500, heartbeatTimeoutMs * 3) : random.range(200, Math.floor(heartbeatTimeoutMs / 2));
    signal(pid, 'SIGSTOP');
    frozen.add(pid);
    setTimeout(() => { frozen.delete(pid); signal(pid, 'SIGCONT'); }, forMs).unref();
    say(`${elapsed()} ${kind} pid ${pid} for ${(forMs / 1000).toFixed(1)}s`);
    faults[kind]++;
    return true;
  }
  faults[kind]++;
  say(`${elapsed()} ${kind} pid ${pid}`);
  return true;
}

/** Waits for every worker to be recorded as gone (they stop by themselves once their run is over). */
async function settle(api: ApiClient): Promise<void> {
  for (const pid of frozen) signal(pid, 'SIGCONT');
  frozen.clear();
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const live = await api.json<{ workers: { state: string }[] }>('GET', '/api/v1/workers').then(
      ({ workers }) => workers.filter((w) => ['starting', 'idle', 'busy', 'draining'].includes(w.state)).length,
      () => -1,
    );
    if (live === 0) return;
    await sleep(250);
  }
}

/** Processes of ours still running after the coordinator stopped; they are killed (by pid) and counted. */
async function leftovers(): Promise<number> {
  await sleep(500);
  const marked = pidsByMarker(machineMarker, (machine) => machine.startsWith(`${workRoot}/`)).keys();
  const pids = new Set([...marked, ...processesUnder(root).map((p) => p.pid)]);
  for (const pid of pids) {
    say(`leaked process ${pid}`);
    signal(pid, 'SIGKILL');
  }
  return pids.size;
}

function titleOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

function usageError(message: string): never {
  process.stderr.write(`chaos: ${message}\n`);
  process.exit(2);
}

/** A fresh schema for the coordinators: of SLIPWAY_DATABASE_URL's database, or of a private cluster started here. */
async function openDatabase(): Promise<{ url: string; close: () => Promise<void> }> {
  let cluster: PostgresCluster | undefined;
  let url = process.env.SLIPWAY_DATABASE_URL;
  if (!url) {
    cluster = await startPostgresCluster();
    url = cluster.url('postgres');
  }
  const schema = await freshSchema(url, 'chaos');
  return {
    url: schema.url,
    async close() {
      await schema.drop();
      await cluster?.stop();
    },
  };
}
