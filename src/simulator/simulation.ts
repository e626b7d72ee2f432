import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Coordinator } from '../coordinator/coordinator.ts';
import { providerRetry } from '../engine/retry.ts';
import { expandTasks } from '../pipeline/expand.ts';
import { parsePipeline } from '../pipeline/load.ts';
import type { OperatorPool, Pipeline } from '../pipeline/types.ts';
import type { AttemptOrder } from '../protocol/worker.ts';
import { providerLifecycle } from '../providers/provider.ts';
import { openSqliteStore } from '../store/store.ts';
import { SimulatedClock } from './simulated-clock.ts';
import { SimulatedCloud, type CloudModel } from './simulated-cloud.ts';
import type { TraceTask } from './trace.ts';

export interface SimulationOptions {
  cloud: CloudModel;
  /** The pool each of the trace's pools runs on (its provider is the simulated cloud's). */
  pools: Readonly<Record<string, OperatorPool>>;
  /** How often live, busy and queued are sampled for the plot (default one minute). */
  sampleMs?: number;
  /** Called now and then with the simulated time reached and the tasks finished. */
  onProgress?: (simulatedMs: number, finished: number) => void;
}

/** What happened to one task of the trace. */
export interface TaskOutcome {
  createdAt: number;
  startedAt: number;
  duration: number;
}

export interface Sample {
  at: number;
  /** Machines billed now (requested, not yet terminated). */
  live: number;
  busy: number;
  queued: number;
}

/** What a simulation leaves: each task's wait, each machine's billed life, samples over time. */
export interface SimulationRecord {
  tasks: TaskOutcome[];
  machines: { requestedAt: number; terminatedAt: number; billedSeconds: number }[];
  samples: Sample[];
  peakWorkers: number;
  endedAt: number;
  /** Wall-clock milliseconds the simulation took. */
  runMs: number;
}

/**
 * A trace's pool the config does not define: no cap to speak of; warm workers as its recent
 * load calls for (min_idle = "auto", see warmTarget); and an idle timeout of what replacing
 * a worker costs (its boot and its time from stop to terminated, both billed): a surplus
 * worker kept idle that long and then used saved as much as it cost, one stopped sooner and
 * needed again costs that much more (the ski-rental rule, never worse than twice the best).
 */
export function defaultPool(cloud: CloudModel): OperatorPool {
  return { provider: 'ec2', maxWorkers: 1000, minIdle: 'auto', idleTimeoutMs: cloud.bootMs + cloud.stopDelayMs };
}

/** How long the simulation waits after the last task for workers to go idle and stop, at most. */
const drainLimitMs = 24 * 3_600_000;

/**
 * Replays `trace` through a real coordinator: its store (SQLite in memory), operations,
 * provisioner, health check and claim path, on a simulated clock, with a simulated cloud
 * (SimulatedCloud) whose agents hold each task for its duration. Each group of tasks a trace
 * run creates at one moment is a run of one step over that many values, created at its
 * moment, in the trace pool's operator pool: so workers are shared across runs as a
 * server's are. Nothing sleeps: time jumps from one timer to the next once all is quiet.
 */
export async function simulate(trace: readonly TraceTask[], options: SimulationOptions): Promise<SimulationRecord> {
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'slipway-simulate-'));
  const clock = new SimulatedClock(0);
  const store = await openSqliteStore(':memory:');
  let coordinator: Coordinator | undefined;
  try {
    let inFlight = 0;
    const durations = new Map<string, number[]>();
    /** A task's duration from the trace: its run's group, at the index its key names (`task[n=3]`). */
    const durationOf = (runId: string, taskKey: string): number => {
      const duration = durations.get(runId)?.[Number(/\[n=(\d+)\]$/.exec(taskKey)?.[1])];
      if (duration === undefined) throw new Error(`no trace task for ${taskKey} of run ${runId}`);
      return duration;
    };
    const world = {
      clock,
      get coordinator() { return coordinator!; },
      durationOf: (attempt: AttemptOrder) => durationOf(attempt.run, attempt.task),
      async call<T>(work: () => Promise<T>): Promise<T> {
        inFlight += 1;
        try {
          return await work();
        } finally {
          inFlight -= 1;
        }
      },
    };
    const cloud = new SimulatedCloud(options.cloud, world);
    const pools = Object.fromEntries(Object.entries(options.pools).map(([name, pool]) => [name, { ...pool, provider: 'ec2' as const }]));
    coordinator = new Coordinator(store, clock, {
      // A 10-minute heartbeat timeout: agents beat (and warm ones ask to stop) every 2.5 minutes
      // instead of 15 s, which makes a day 2.3 times faster to simulate and moved billed/busy
      // by 0.3 % on the shared trace (1.431 against 1.427 with the default 60 s); no machine dies silently here.
      stateDir: dir, heartbeatTimeoutMs: 600_000, healthIntervalMs: 60_000, startTimeoutMs: 600_000,
      providerRetry, pools, pipelinesMayDefinePools: false,
    }, [providerLifecycle(cloud)]);
    const faults: string[] = [];
    coordinator.onFault((message) => faults.push(message));
    coordinator.start({ local: '', remote: 'https://coordinator.simulated.invalid' });

    const outcomes: TaskOutcome[] = [];
    const createdAt = new Map<string, number>();
    let finished = 0;
    let running = 0;
    let created = 0;
    /** The group being created: its run's first event names the run. */
    let creating: { durations: number[] } | undefined;
    coordinator.events.subscribe((event) => {
      if (event.kind === 'run.started' && creating) {
        durations.set(event.run, creating.durations);
        createdAt.set(event.run, clock.now());
        created += creating.durations.length;
        creating = undefined;
      } else if (event.kind === 'task.started') {
        running += 1;
        outcomes.push({ createdAt: createdAt.get(event.run)!, startedAt: clock.now(), duration: durationOf(event.run, event.task!) });
      } else if (event.kind === 'task.succeeded') {
        running -= 1;
        finished += 1;
      }
    });

    const pipelines = new Map<string, Pipeline>();
    const pipelineOf = (pool: string, count: number): Pipeline => {
      const key = `${pool}/${count}`;
      let pipeline = pipelines.get(key);
      if (!pipeline) {
        const values = Array.from({ length: count }, (_, i) => `"${i}"`).join(', ');
        pipeline = parsePipeline(
          `name: trace\nmatrix:\n  n: [${values}]\nactivities:\n  work: { pool: ${pool} }\nsteps:\n  task:\n    over: [n]\n    run: "true"\n`,
          'trace.yml', dir, { pools },
        );
        pipelines.set(key, pipeline);
      }
      return pipeline;
    };
    const sourceDigest = '0'.repeat(64);
    for (const group of moments(trace)) {
      clock.after(group.at, () => {
        void world.call(async () => {
          const pipeline = pipelineOf(group.pool, group.durations.length);
          creating = group;
          await coordinator!.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: false }, sourceDigest);
        });
      });
    }

    const samples: Sample[] = [];
    const sampleMs = options.sampleMs ?? 60_000;
    const sample = (): void => {
      samples.push({ at: clock.now(), live: cloud.live, busy: running, queued: created - outcomes.length });
      options.onProgress?.(clock.now(), finished);
    };
    const sampling = (): void => { sample(); clock.after(sampleMs, sampling); };
    sampling();

    // A timer's action may only resolve a promise (an agent's sleep): what it sets off runs
    // after a turn of the event loop, so the turn comes first, then the look at what is in flight.
    const quiet = async (): Promise<void> => {
      do await new Promise((resolve) => setImmediate(resolve));
      while (!(coordinator!.quiet && inFlight === coordinator!.claimsWaiting));
    };
    const lastAt = trace.at(-1)!.at;
    await quiet();
    for (;;) {
      const done = finished === trace.length;
      if (done && cloud.live === 0) break;
      if (done && clock.now() > lastAt + drainLimitMs) break;
      if (!clock.fireNext()) break;
      await quiet();
    }
    sample();
    const endedAt = clock.now();
    if (faults.length > 0) throw new Error(`the simulated coordinator reported a fault: ${faults[0]}`);
    if (finished !== trace.length) throw new Error(`the simulation stopped with ${trace.length - finished} of ${trace.length} tasks unfinished`);
    const machines = [...cloud.machines.values()].map((m) => ({
      requestedAt: m.requestedAt, terminatedAt: Math.min(m.terminatedAt ?? endedAt, endedAt), billedSeconds: cloud.billedSeconds(m, endedAt),
    }));
    return { tasks: outcomes, machines, samples, peakWorkers: cloud.peak, endedAt, runMs: performance.now() - started };
  } finally {
    await coordinator?.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The trace's tasks grouped by the moment a run created them, in order. */
function* moments(trace: readonly TraceTask[]): Generator<{ at: number; pool: string; durations: number[] }> {
  let current: { at: number; pool: string; run: string; durations: number[] } | undefined;
  for (const task of trace) {
    if (current && current.at === task.at && current.run === task.run && current.pool === task.pool) {
      current.durations.push(task.duration);
      continue;
    }
    if (current) yield current;
    current = { at: task.at, pool: task.pool, run: task.run, durations: [task.duration] };
  }
  if (current) yield current;
}
