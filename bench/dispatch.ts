/**
 * The coordinator's dispatch path with warm workers: no-op tasks per second and
 * enqueue-to-start latency, beside the floors measured in the same run (one store commit,
 * one loopback HTTP round trip). `npm run bench -- --json` prints one JSON object.
 * `--store postgres` runs it on PostgreSQL: the database of SLIPWAY_DATABASE_URL (a schema
 * of its own per run, dropped after), or a private cluster it starts, where it also counts
 * the statements per dispatched task (pg_stat_statements), and how soon a second coordinator
 * following a run hears what the first commits for it (commit notices). Where the time goes:
 * the CPU each process takes per task (the coordinator, the agents, and a private cluster's
 * PostgreSQL), and the same of graphile-worker's when compared; a comparison also runs the
 * floor under any queue whose workers take their tasks over HTTP (http-queue-floor.ts), to
 * say how near graphile-worker such a design can come here. `--profile` runs the
 * throughput part once more to say where the coordinator's time goes, and which statements
 * it sends per task (see time-profile.ts).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import { HttpConnection } from '../src/agent/http-request.ts';
import { listen } from '../src/api/http-server.ts';
import { startEmbedded } from '../src/coordinator/embedded.ts';
import { expandTasks } from '../src/pipeline/expand.ts';
import type { Pipeline, Step } from '../src/pipeline/types.ts';
import { openStore } from '../src/store/store.ts';
import { freshSchema, startPostgresCluster, type PostgresCluster } from '../test/helpers/postgres.ts';
import { tempDir } from '../test/helpers/temp.ts';
import pg from 'pg';
import { graphileFigures } from './graphile-compare.ts';
import { httpQueueFloor, type FloorFigures, type FloorShape } from './http-queue-floor.ts';
import { machineMs } from './machine-clock.ts';
import { treeCpuMs } from './process-cpu.ts';
import { profileCoordinator, statementKinds, statementSnapshot, type CoordinatorTime, type StatementKind, type StatementSnapshot } from './time-profile.ts';

const json = process.argv.includes('--json');
/** Also where the time goes: one more throughput run, profiled (see time-profile.ts). */
const profiling = process.argv.includes('--profile');
const compare = process.argv.includes('--compare') ? process.argv[process.argv.indexOf('--compare') + 1] : undefined;
if (compare !== undefined && compare !== 'graphile-worker') {
  process.stderr.write(`--compare takes graphile-worker, not ${JSON.stringify(compare)}\n`);
  process.exit(2);
}
// graphile-worker runs on PostgreSQL only: the comparison is on that store.
const storeKind = process.argv.includes('--store') ? process.argv[process.argv.indexOf('--store') + 1] : compare ? 'postgres' : 'sqlite';
if (storeKind !== 'sqlite' && storeKind !== 'postgres') {
  process.stderr.write(`--store takes sqlite or postgres, not ${JSON.stringify(storeKind)}\n`);
  process.exit(2);
}
const workers = 8;
const throughputTasks = 5000;
const chainLength = 400;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function round(n: number, digits = 3): number {
  return Number(n.toFixed(digits));
}

/** Where each measurement keeps its store: a SQLite file under `dir`, or a new schema of the PostgreSQL database. */
interface Stores {
  location(dir: string, name: string): Promise<string>;
  /** The database itself, for another system to run on (PostgreSQL only). */
  url?: string;
  /**
   * Statements sent to the database since the last call, and those it ran inside them
   * (foreign-key checks); undefined where they cannot be counted.
   */
  statements(): Promise<{ sent: number; nested: number } | undefined>;
  /** The CPU time its server has taken (ms): a private cluster's only, on this machine. */
  cpuMs?: () => number;
  /** What the database's statement counts are now, to tell the statements of a run by kind; undefined where they cannot be counted. */
  snapshot(): Promise<StatementSnapshot | undefined>;
  close(): Promise<void>;
}

async function openStores(): Promise<Stores> {
  if (storeKind === 'sqlite') return { location: async (dir, name) => join(dir, `${name}.db`), statements: async () => undefined, snapshot: async () => undefined, close: async () => undefined };
  let cluster: PostgresCluster | undefined;
  let url = process.env.SLIPWAY_DATABASE_URL;
  if (!url) {
    cluster = await startPostgresCluster(['shared_preload_libraries=pg_stat_statements', 'pg_stat_statements.track=all']);
    url = cluster.url('postgres');
  }
  const drops: (() => Promise<void>)[] = [];
  const stats = new pg.Client({ connectionString: url });
  await stats.connect();
  const counting = await stats.query('create extension if not exists pg_stat_statements').then(() => true, () => false);
  const total = async () => {
    const { sent, nested } = (await stats.query<{ sent: string; nested: string }>(
      'select coalesce(sum(calls) filter (where toplevel), 0) as sent, coalesce(sum(calls) filter (where not toplevel), 0) as nested from pg_stat_statements',
    )).rows[0]!;
    return { sent: Number(sent), nested: Number(nested) };
  };
  let last = counting ? await total() : { sent: 0, nested: 0 };
  return {
    url,
    ...(cluster && { cpuMs: () => treeCpuMs(cluster!.pid) }),
    async location() {
      const schema = await freshSchema(url!, 'bench');
      drops.push(schema.drop);
      return schema.url;
    },
    async statements() {
      if (!counting) return undefined;
      const now = await total();
      const since = { sent: now.sent - last.sent, nested: now.nested - last.nested };
      last = now;
      return since;
    },
    snapshot: async () => (counting ? statementSnapshot(stats) : undefined),
    async close() {
      await stats.end();
      for (const drop of drops) await drop();
      await cluster?.stop();
    },
  };
}

async function storeCommitFloor(location: string): Promise<number> {
  const store = await openStore(location);
  const n = 2000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    await store.transaction((trx) => trx.insertInto('events').values({ at: i, run_id: 'r-floor', kind: 'run.started', task_key: null, worker_id: null, worker_name: null, attempt: null, message: null }).execute());
  }
  const ms = (performance.now() - t0) / n;
  await store.close();
  return ms;
}

/**
 * One loopback HTTP request after another, as an agent sends them (its kept-alive
 * connection) to a Hono server: p50 of their round trips, and the CPU each took, client
 * and server (both here), once warm.
 */
async function httpRoundTripFloor(): Promise<{ p50: number; cpuMs: number }> {
  const app = new Hono().post('/x', async (c) => c.json({ ok: await c.req.json() }));
  const server = await listen(app, '127.0.0.1', 0);
  const connection = new HttpConnection(server.url);
  const post = () => connection.send('POST', '/x', { 'content-type': 'application/json' }, '{}');
  for (let i = 0; i < 200; i++) await post();
  const n = 2000;
  const times: number[] = [];
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    JSON.parse((await post()).body);
    times.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpuBefore);
  connection.close();
  await server.close();
  return { p50: percentile(times.sort((a, b) => a - b), 50), cpuMs: (cpu.user + cpu.system) / 1000 / n };
}

function pipeline(sourceDir: string, steps: Partial<Step>[], matrix: Record<string, string[]>): Pipeline {
  const retry = { attempts: 1, delayMs: 0, backoff: 1, maxDelayMs: 0 };
  return {
    name: 'bench', file: join(sourceDir, 'slipway.yml'), sourceDir, matrix,
    activities: {
      warm: { name: 'warm', provider: 'local', maxWorkers: workers, idleTimeoutMs: 600_000 },
      other: { name: 'other', provider: 'local', maxWorkers: 1, idleTimeoutMs: 600_000 },
      control: { name: 'control', provider: 'local', maxWorkers: 1, idleTimeoutMs: 1_000 },
    },
    steps: Object.fromEntries(steps.map((s) => [s.name!, {
      activity: 'warm', over: [], needs: [], exclude: [], env: {}, timeoutMs: null, retry, run: { kind: 'inline', text: 'true' }, ...s,
    } as Step])),
  };
}

interface DispatchOptions {
  /** A second coordinator on the same store follows the run. */
  observed?: boolean;
  databaseCpuMs?: () => number;
  /** Called once the run's tasks are queued, and when the run has ended. */
  watch?: { start(): Promise<void>; stop(): Promise<void> };
}

/**
 * Runs a pipeline on warm agents (`count` per activity); returns the wall time and when each
 * task reached its worker. With `observed`, a second coordinator on the same store follows
 * the run, as a server does for a browser or a `slipway run --server` on it: `heardAt` is
 * when each task's queueing reached it.
 */
async function dispatch(stateDir: string, dbPath: string, p: Pipeline, pools: Record<string, number>, { observed = false, databaseCpuMs, watch }: DispatchOptions = {}) {
  const embedded = await startEmbedded({ stateDir, dbPath, settings: { healthIntervalMs: 60_000 } });
  const observer = observed ? await startEmbedded({ stateDir: `${stateDir}-observer`, dbPath, settings: { healthIntervalMs: 60_000 } }) : undefined;
  await observer?.coordinator.listening();
  const queuedAt = new Map<string, number>();
  const heardAt = new Map<string, number>();
  embedded.coordinator.events.subscribe((e) => {
    if (e.kind === 'task.queued' && e.task) queuedAt.set(e.task, machineMs());
  });
  observer?.coordinator.events.subscribe((e) => {
    if (e.kind === 'task.queued' && e.task) heardAt.set(e.task, machineMs());
  });
  const tasks = expandTasks(p);
  const { runId, joinToken } = await embedded.coordinator.createRun(p, tasks, {}, { fakeWorkers: false, noProvision: true });
  const unfollow = await observer?.coordinator.follow(runId);
  await watch?.start();
  const cpuBefore = process.cpuUsage();
  const databaseCpuBefore = databaseCpuMs?.();
  const agentsScript = fileURLToPath(new URL('./warm-agents.ts', import.meta.url));
  const outputs = Object.entries(pools).map(([activity, count]) => {
    const child = spawn(process.execPath, [agentsScript, embedded.listening.url, activity, String(count)], {
      env: { ...process.env, SLIPWAY_TOKEN: joinToken }, stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    return new Promise<string>((resolve) => child.on('exit', () => resolve(output)));
  });
  const status = await embedded.coordinator.waitForRun(runId);
  const cpu = process.cpuUsage(cpuBefore);
  await watch?.stop();
  // Read before the coordinator closes its connections, whose processes take their time with them.
  const databaseCpu = databaseCpuBefore === undefined ? undefined : databaseCpuMs!() - databaseCpuBefore;
  await embedded.coordinator.waitForWorkers(runId, 10_000);
  const reports = (await Promise.all(outputs)).map((o) => JSON.parse(o) as { started: Record<string, number>; cpu_ms: number });
  const started = Object.assign({}, ...reports.map((r) => r.started)) as Record<string, number>;
  const attempts = await embedded.store.db.selectFrom('attempts').select(['started_at', 'finished_at']).where('run_id', '=', runId).execute();
  unfollow?.();
  await observer?.close();
  await embedded.close();
  if (status !== 'succeeded') throw new Error(`bench run ended ${status}`);
  const first = Math.min(...attempts.map((a) => Number(a.started_at)));
  const last = Math.max(...attempts.map((a) => Number(a.finished_at)));
  const perTask = (ms: number) => ms / tasks.length;
  return {
    wallMs: last - first, started, queuedAt, heardAt, tasks: tasks.length,
    cpuMsPerTask: {
      coordinator: perTask((cpu.user + cpu.system) / 1000),
      agents: perTask(reports.reduce((sum, r) => sum + r.cpu_ms, 0)),
      postgres: databaseCpu === undefined ? null : perTask(databaseCpu),
    },
    sys: perTask(cpu.system / 1000),
  };
}

/** How long after a task is queued on one coordinator another one, following the run, publishes it. */
async function otherCoordinatorHears(stateDir: string, dbPath: string, chain: Pipeline) {
  const observed = await dispatch(stateDir, dbPath, chain, { warm: 1, other: 1 }, { observed: true });
  // The first task was queued before the observer followed the run: only the chain's later links count.
  const delays = [...observed.heardAt].filter(([task]) => observed.queuedAt.has(task)).map(([task, at]) => at - observed.queuedAt.get(task)!).sort((a, b) => a - b);
  if (delays.length === 0) throw new Error('the second coordinator heard none of the run\'s tasks queued');
  return { p50: round(percentile(delays, 50)), p99: round(percentile(delays, 99)), events: delays.length };
}

/**
 * The throughput run again, on a store of its own, with the coordinator profiled and (on
 * PostgreSQL) its statements told apart by kind. The profiler slows the coordinator: the
 * measured figures are the other run's.
 */
async function whereTimeGoes(stores: Stores, stateDir: string, dbPath: string, wide: Pipeline) {
  let before: StatementSnapshot | undefined;
  let after: StatementSnapshot | undefined;
  let stopProfile: (() => Promise<CoordinatorTime>) | undefined;
  let coordinator: CoordinatorTime | undefined;
  const run = await dispatch(stateDir, dbPath, wide, { warm: workers }, {
    watch: {
      start: async () => {
        before = await stores.snapshot();
        stopProfile = await profileCoordinator();
      },
      stop: async () => {
        coordinator = await stopProfile!();
        after = await stores.snapshot();
      },
    },
  });
  const statements: StatementKind[] | null = before && after ? statementKinds(before, after, run.tasks) : null;
  return { profiled_tasks_per_second: Math.round(run.tasks / (run.wallMs / 1000)), coordinator: coordinator!, statements };
}

function percent(share: number): string {
  return `${Math.round(share * 100)} %`;
}

const dir = tempDir('slipway-bench-');
const stores = await openStores();
try {
  // The runs' source tree is apart from the coordinators' state: the second run would pack
  // the first one's store, which its last writes may still be changing.
  const source = join(dir.path, 'source');
  mkdirSync(source);
  writeFileSync(join(source, 'slipway.yml'), 'name: bench\n');
  const commitMs = await storeCommitFloor(await stores.location(dir.path, 'floor'));
  const { p50: roundTripMs, cpuMs: roundTripCpuMs } = await httpRoundTripFloor();

  const wide = pipeline(source, [{ name: 'noop', over: ['n'] }], { n: Array.from({ length: throughputTasks }, (_, i) => String(i)) });
  const throughputStore = await stores.location(dir.path, 'throughput');
  await stores.statements();
  const throughput = await dispatch(join(dir.path, 'state-1'), throughputStore, wide, { warm: workers }, { databaseCpuMs: stores.cpuMs });
  const statements = await stores.statements();
  const tasksPerSecond = throughput.tasks / (throughput.wallMs / 1000);

  // Each link of the chain is on the other activity, so it is picked up by a worker waiting in a long poll.
  const chain = pipeline(source, Array.from({ length: chainLength }, (_, i) => ({
    name: `s${i}`, needs: i === 0 ? [] : [`s${i - 1}`], activity: i % 2 === 0 ? 'warm' : 'other',
  })), {});
  const latency = await dispatch(join(dir.path, 'state-2'), await stores.location(dir.path, 'latency'), chain, { warm: 1, other: 1 });
  const latencies = [...latency.queuedAt].map(([task, at]) => latency.started[task]! - at).sort((a, b) => a - b);
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);
  // On PostgreSQL, the chain again, followed from a second coordinator (apart, so its reads
  // do not weigh on the latency above). One on SQLite looks every 0.5 s: nothing to measure.
  const heard = storeKind === 'postgres' ? await otherCoordinatorHears(join(dir.path, 'state-3'), await stores.location(dir.path, 'observed'), chain) : null;
  const profile = profiling ? await whereTimeGoes(stores, join(dir.path, 'state-4'), await stores.location(dir.path, 'profiled'), wide) : undefined;

  const result = {
    store: storeKind,
    tasks_per_second: Math.round(tasksPerSecond),
    latency_ms: { p50: round(p50), p99: round(p99) },
    // From a commit on one coordinator to its event on another that follows the run (PostgreSQL's commit notices).
    other_coordinator_hears_ms: heard,
    // Where the time goes: each process's CPU time over the throughput run's tasks (PostgreSQL's, of a private cluster only).
    cpu_ms_per_task: {
      coordinator: round(throughput.cpuMsPerTask.coordinator), agents: round(throughput.cpuMsPerTask.agents),
      postgres: throughput.cpuMsPerTask.postgres === null ? null : round(throughput.cpuMsPerTask.postgres),
    },
    // Every statement the throughput run sent (creating the run, claims, finishes, events) over its tasks.
    statements_per_task: statements === undefined ? null : round(statements.sent / throughput.tasks, 2),
    // What PostgreSQL ran inside those: a foreign key's check of each row inserted or changed.
    nested_statements_per_task: statements === undefined ? null : round(statements.nested / throughput.tasks, 2),
    floors: { store_commit_ms: round(commitMs), http_round_trip_ms: round(roundTripMs), http_round_trip_cpu_ms: round(roundTripCpuMs) },
    ratios: { latency_p50_over_round_trip: round(p50 / roundTripMs, 2), task_time_over_commit: round((1000 / tasksPerSecond) / commitMs, 2) },
    setup: { workers, throughput_tasks: throughput.tasks, chain_tasks: latency.tasks, cpus: (await import('node:os')).availableParallelism() },
    ...(profile && { profile }),
  };
  // The other system runs after Slipway's, on the same database, with as many workers and tasks.
  const other = compare && stores.url ? await graphileFigures(stores.url, workers, throughputTasks, chainLength, stores.cpuMs) : undefined;
  const comparison = other && { ...other, ratio: round(result.tasks_per_second / other.tasks_per_second, 2) };
  // What any queue whose workers take their work over HTTP reaches here, one shape after the other: how far off graphile-worker such a design starts.
  const floors: Partial<Record<FloorShape, FloorFigures & { ratio: number }>> = {};
  if (comparison) {
    for (const shape of ['statement', 'transaction'] as const) {
      const floor = await httpQueueFloor(await stores.location(dir.path, `floor-${shape}`), shape, workers, throughputTasks, stores.cpuMs);
      floors[shape] = { ...floor, ratio: round(floor.tasks_per_second / comparison.tasks_per_second, 2) };
    }
  }
  if (json) {
    process.stdout.write(`${JSON.stringify(comparison ? { ...result, compare: { ...comparison, http_queue_floor: floors } } : result)}\n`);
  } else {
    process.stdout.write([
      `dispatch on ${storeKind} with ${workers} warm workers (${throughput.tasks} no-op tasks): ${result.tasks_per_second} tasks/s (${round(1000 / tasksPerSecond)} ms per task)${result.statements_per_task === null ? '' : `, ${result.statements_per_task} statements per task (and ${result.nested_statements_per_task} that PostgreSQL ran inside them: foreign-key checks)`}`,
      `enqueue-to-start latency (${latency.tasks}-task chain across 2 activities, workers waiting in long polls): p50 ${result.latency_ms.p50} ms, p99 ${result.latency_ms.p99} ms`,
      ...(heard ? [`another coordinator following the run hears each queueing (${heard.events} events, by commit notices): p50 ${heard.p50} ms, p99 ${heard.p99} ms`] : []),
      `CPU per task: coordinator ${result.cpu_ms_per_task.coordinator} ms (system ${round(throughput.sys)} ms), agents ${result.cpu_ms_per_task.agents} ms${result.cpu_ms_per_task.postgres === null ? '' : `, PostgreSQL ${result.cpu_ms_per_task.postgres} ms`}`,
      `floors: one store commit ${result.floors.store_commit_ms} ms, one loopback HTTP round trip ${result.floors.http_round_trip_ms} ms (${result.floors.http_round_trip_cpu_ms} ms of CPU, client and server)`,
      `ratios: latency p50 = ${result.ratios.latency_p50_over_round_trip} round trips; one task = ${result.ratios.task_time_over_commit} commits`,
      ...(profile ? [
        `where the time goes (the throughput run again, profiled: ${profile.profiled_tasks_per_second} tasks/s under the profiler):`,
        `  the coordinator's thread was busy ${percent(profile.coordinator.busy_share)} of the run; of that busy time:`,
        ...profile.coordinator.parts.map(({ part, share }) => `    ${percent(share).padStart(5)}  ${part}`),
        ...(profile.statements ? [
          '  statements per task, by kind (calls per task, rows per call, PostgreSQL\'s execution ms per task):',
          ...profile.statements.filter((k) => k.calls_per_task >= 0.01)
            .map((k) => `    ${k.calls_per_task.toFixed(3).padStart(6)}  ${k.statement}${k.nested ? ' (run inside another)' : ''}, ${k.rows_per_call} rows, ${k.exec_ms_per_task} ms`),
          `    (and ${profile.statements.filter((k) => k.calls_per_task < 0.01).length} kinds run less than once per 100 tasks; all of them with --json)`,
        ] : []),
      ] : []),
      ...(comparison ? [
        `graphile-worker on the same database (concurrency ${workers}, ${throughputTasks} no-op jobs; a ${chainLength}-job chain): ${comparison.tasks_per_second} jobs/s, add-to-start p50 ${comparison.latency_ms.p50} ms, p99 ${comparison.latency_ms.p99} ms`,
        `graphile-worker CPU per job: its process ${comparison.cpu_ms_per_job.node} ms${comparison.cpu_ms_per_job.postgres === null ? '' : `, PostgreSQL ${comparison.cpu_ms_per_job.postgres} ms`}`,
        `Slipway / graphile-worker throughput: ${comparison.ratio}`,
        'the floor under any queue whose workers take their work over HTTP (this HTTP server and the agents\' connection, group commit; no credentials, attempts, logs or run to end):',
        ...Object.entries(floors).map(([shape, floor]) => `  ${shape === 'statement' ? 'one statement a batch' : 'a transaction a batch (begin, three writes, commit)'}: ${floor.tasks_per_second} tasks/s, ${floor.ratio} of graphile-worker; CPU per task: server ${floor.cpu_ms_per_task.server} ms, clients ${floor.cpu_ms_per_task.clients} ms${floor.cpu_ms_per_task.postgres === null ? '' : `, PostgreSQL ${floor.cpu_ms_per_task.postgres} ms`}`),
      ] : []),
      '',
    ].join('\n'));
  }
} finally {
  await stores.close();
  dir.remove();
}
