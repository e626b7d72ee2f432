/**
 * The coordinator's dispatch path with warm workers: no-op tasks per second and
 * enqueue-to-start latency, beside the floors measured in the same run (one store commit,
 * one loopback HTTP round trip). `npm run bench -- --json` prints one JSON object.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import { listen } from '../src/api/http-server.ts';
import { startEmbedded } from '../src/coordinator/embedded.ts';
import { expandTasks } from '../src/pipeline/expand.ts';
import type { Pipeline, Step } from '../src/pipeline/types.ts';
import { openSqliteStore } from '../src/store/store.ts';
import { tempDir } from '../test/helpers/temp.ts';

const json = process.argv.includes('--json');
const workers = 8;
const throughputTasks = 5000;
const chainLength = 400;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function round(n: number, digits = 3): number {
  return Number(n.toFixed(digits));
}

async function storeCommitFloor(dir: string): Promise<number> {
  const store = await openSqliteStore(join(dir, 'floor.db'));
  const n = 2000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    await store.transaction((trx) => trx.insertInto('events').values({ at: i, run_id: 'r-floor', kind: 'run.started', task_key: null, worker_id: null, worker_name: null, attempt: null, message: null }).execute());
  }
  const ms = (performance.now() - t0) / n;
  await store.close();
  return ms;
}

async function httpRoundTripFloor(): Promise<number> {
  const app = new Hono().post('/x', async (c) => c.json({ ok: await c.req.text() }));
  const server = await listen(app, '127.0.0.1', 0);
  const n = 2000;
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const response = await fetch(`${server.url}/x`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    await response.json();
    times.push(performance.now() - t0);
  }
  await server.close();
  return percentile(times.sort((a, b) => a - b), 50);
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

/** Runs a pipeline on warm agents (`count` per activity); returns the wall time and when each task reached its worker. */
async function dispatch(stateDir: string, p: Pipeline, pools: Record<string, number>) {
  const embedded = await startEmbedded({ stateDir, settings: { healthIntervalMs: 60_000 } });
  const queuedAt = new Map<string, number>();
  embedded.coordinator.events.subscribe((e) => {
    if (e.kind === 'task.queued' && e.task) queuedAt.set(e.task, performance.timeOrigin + performance.now());
  });
  const tasks = expandTasks(p);
  const { runId, joinToken } = await embedded.coordinator.createRun(p, tasks, {}, { fakeWorkers: false, noProvision: true });
  const cpuBefore = process.cpuUsage();
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
  await embedded.coordinator.waitForWorkers(runId, 10_000);
  const started = Object.assign({}, ...(await Promise.all(outputs)).map((o) => JSON.parse(o) as Record<string, number>)) as Record<string, number>;
  const attempts = await embedded.store.db.selectFrom('attempts').select(['started_at', 'finished_at']).where('run_id', '=', runId).execute();
  await embedded.close();
  if (status !== 'succeeded') throw new Error(`bench run ended ${status}`);
  const first = Math.min(...attempts.map((a) => Number(a.started_at)));
  const last = Math.max(...attempts.map((a) => Number(a.finished_at)));
  return { wallMs: last - first, started, queuedAt, tasks: tasks.length, coordinatorCpuMsPerTask: (cpu.user + cpu.system) / 1000 / tasks.length, sys: cpu.system / 1000 / tasks.length };
}

const dir = tempDir('slipway-bench-');
try {
  // The runs' source tree is apart from the coordinators' state: the second run would pack
  // the first one's store, which its last writes may still be changing.
  const source = join(dir.path, 'source');
  mkdirSync(source);
  writeFileSync(join(source, 'slipway.yml'), 'name: bench\n');
  const commitMs = await storeCommitFloor(dir.path);
  const roundTripMs = await httpRoundTripFloor();

  const wide = pipeline(source, [{ name: 'noop', over: ['n'] }], { n: Array.from({ length: throughputTasks }, (_, i) => String(i)) });
  const throughput = await dispatch(join(dir.path, 'state-1'), wide, { warm: workers });
  const tasksPerSecond = throughput.tasks / (throughput.wallMs / 1000);

  // Each link of the chain is on the other activity, so it is picked up by a worker waiting in a long poll.
  const chain = pipeline(source, Array.from({ length: chainLength }, (_, i) => ({
    name: `s${i}`, needs: i === 0 ? [] : [`s${i - 1}`], activity: i % 2 === 0 ? 'warm' : 'other',
  })), {});
  const latency = await dispatch(join(dir.path, 'state-2'), chain, { warm: 1, other: 1 });
  const latencies = [...latency.queuedAt].map(([task, at]) => latency.started[task]! - at).sort((a, b) => a - b);
  const p50 = percentile(latencies, 50);
  const p99 = percentile(latencies, 99);

  const result = {
    tasks_per_second: Math.round(tasksPerSecond),
    latency_ms: { p50: round(p50), p99: round(p99) },
    coordinator_cpu_ms_per_task: round(throughput.coordinatorCpuMsPerTask),
    floors: { store_commit_ms: round(commitMs), http_round_trip_ms: round(roundTripMs) },
    ratios: { latency_p50_over_round_trip: round(p50 / roundTripMs, 2), task_time_over_commit: round((1000 / tasksPerSecond) / commitMs, 2) },
    setup: { workers, throughput_tasks: throughput.tasks, chain_tasks: latency.tasks, cpus: (await import('node:os')).availableParallelism() },
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    process.stdout.write([
      `dispatch with ${workers} warm workers (${throughput.tasks} no-op tasks): ${result.tasks_per_second} tasks/s (${round(1000 / tasksPerSecond)} ms per task)`,
      `enqueue-to-start latency (${latency.tasks}-task chain across 2 activities, workers waiting in long polls): p50 ${result.latency_ms.p50} ms, p99 ${result.latency_ms.p99} ms`,
      `coordinator CPU per task: ${result.coordinator_cpu_ms_per_task} ms (system ${round(throughput.sys)} ms)`,
      `floors: one store commit ${result.floors.store_commit_ms} ms, one loopback HTTP round trip ${result.floors.http_round_trip_ms} ms`,
      `ratios: latency p50 = ${result.ratios.latency_p50_over_round_trip} round trips; one task = ${result.ratios.task_time_over_commit} commits`,
      '',
    ].join('\n'));
  }
} finally {
  dir.remove();
}
