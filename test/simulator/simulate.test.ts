import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OperatorPool } from '../../src/pipeline/types.ts';
import { figuresOf, type SimulationFigures } from '../../src/simulator/figures.ts';
import { simulate, type SimulationRecord } from '../../src/simulator/simulation.ts';
import { taskclusterCloud, type CloudModel } from '../../src/simulator/simulated-cloud.ts';
import { readTrace, TraceError, type TraceTask } from '../../src/simulator/trace.ts';

/*
 * Every expected figure below is worked out by hand in the test's comment, from the
 * simulator's model: a task created at `at` makes the coordinator request a machine at once
 * (ec2 machines start without ramping up), which boots for `bootMs` before its agent claims;
 * an agent idle for its pool's idle timeout exits by itself; the machine is terminated
 * `stopDelayMs` after a stop or an exit, and billed from its request to its termination.
 *
 * The cloud used throughout: a 10 s boot, a 5 s stop delay, a 60 s minimum charge, and
 * $3.6 an hour, which is $0.001 a second: a cost in USD is the billed seconds / 1000.
 */
const cloud: CloudModel = { ...taskclusterCloud, bootMs: 10_000, stopDelayMs: 5_000, billing: 'per-second', minChargeMs: 60_000, hourlyUsd: 3.6 };
const hourlyCloud: CloudModel = { ...cloud, billing: 'per-hour' };

const s = 1_000;

function pool(overrides: Partial<OperatorPool> = {}): OperatorPool {
  return { provider: 'ec2', maxWorkers: 10, minIdle: 0, idleTimeoutMs: 30 * s, ...overrides };
}

/** A trace of tasks `[at, duration, run]` in seconds, all in pool `linux`, in the order given. */
function trace(...tasks: [atS: number, durationS: number, run: string][]): TraceTask[] {
  return tasks.map(([at, duration, run]) => ({ at: at * s, duration: duration * s, pool: 'linux', run }));
}

async function run(tasks: TraceTask[], options: { cloud?: CloudModel; pool?: OperatorPool } = {}): Promise<{ record: SimulationRecord; figures: SimulationFigures }> {
  const model = options.cloud ?? cloud;
  const record = await simulate(tasks, { cloud: model, pools: { linux: options.pool ?? pool() } });
  return { record, figures: figuresOf(record, model.hourlyUsd) };
}

const waitsOf = (record: SimulationRecord): number[] => record.tasks.map((t) => (t.startedAt - t.createdAt) / s).sort((a, b) => a - b);
/** Each machine's life, sorted: [requested, terminated, billed] in seconds. */
const livesOf = (record: SimulationRecord): [number, number, number][] =>
  record.machines.map((m): [number, number, number] => [m.requestedAt / s, m.terminatedAt / s, m.billedSeconds]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);

describe('one task on one worker', () => {
  it('waits for the boot, and bills boot + task + idle timeout + stop delay', async () => {
    // Task 100 s created at 0. Machine requested at 0, up at 10 s: the task waits 10 s (the
    // boot) and runs 10 -> 110 s. The agent is idle from 110 s; its idle timeout (30 s)
    // passes at 140 s and it exits by itself; the machine is terminated at 140 + 5 = 145 s.
    // Billed 145 s (over the 60 s minimum) = 10 + 100 + 30 + 5. Cost 145 / 3600 h x $3.6 = $0.145.
    // Busy 100 s; billed over busy 1.45. The simulation ends at the last termination, 145 s.
    const { record, figures } = await run(trace([0, 100, 'r1']));
    expect(record.tasks).toEqual([{ createdAt: 0, startedAt: 10 * s, duration: 100 * s }]);
    expect(livesOf(record)).toEqual([[0, 145, 145]]);
    expect(record.endedAt).toBe(145 * s);
    expect(figures.tasks).toBe(1);
    expect(figures.workers_started).toBe(1);
    expect(figures.peak_workers).toBe(1);
    expect(figures.wait_s).toEqual({ p50: 10, p95: 10, p99: 10, mean: 10 });
    expect(figures.busy_hours).toBeCloseTo(100 / 3600, 12);
    expect(figures.billed_hours).toBeCloseTo(145 / 3600, 12);
    expect(figures.billed_over_busy).toBeCloseTo(1.45, 12);
    expect(figures.cost_usd).toBeCloseTo(0.145, 12);
    expect(figures.simulated_hours).toBeCloseTo(145 / 3600, 12);
    // The last sample, at the end, sees no machine left.
    expect(record.samples.at(-1)).toEqual({ at: 145 * s, live: 0, busy: 0, queued: 0 });
  });

  it('counts an idle timeout longer than a heartbeat interval in full', async () => {
    // The claim of an idle agent is held at most a heartbeat interval (600 s / 4 = 150 s),
    // so a 400 s idle timeout takes several claims; the agent still exits exactly 400 s
    // after going idle. Task 50 s created at 0: runs 10 -> 60 s, idle until 460 s, machine
    // terminated at 465 s. Billed 465 s; cost $0.465.
    const { record, figures } = await run(trace([0, 50, 'r1']), { pool: pool({ idleTimeoutMs: 400 * s }) });
    expect(livesOf(record)).toEqual([[0, 465, 465]]);
    expect(figures.cost_usd).toBeCloseTo(0.465, 12);
  });
});

describe('a worker reused', () => {
  it('takes a task created while it is idle within its idle timeout, with no wait', async () => {
    // Task A 100 s at 0: machine requested at 0, up at 10 s, A runs 10 -> 110 s; the worker
    // is idle from 110 s and would exit at 110 + 30 = 140 s. Task B 100 s (another run) is
    // created at 120 s, while the worker waits in its claim: it takes B at once (wait 0), and
    // no second machine is requested (one idle worker covers one queued task). B runs
    // 120 -> 220 s; idle from 220 s, exit at 250 s, terminated at 255 s.
    // Workers started 1; waits [10, 0] (p50 = the 1st of 2 = 0, p95 = p99 = 10, mean 5).
    // Billed 255 s; busy 200 s; billed over busy 1.275; cost $0.255.
    const { record, figures } = await run(trace([0, 100, 'r1'], [120, 100, 'r2']));
    expect(figures.workers_started).toBe(1);
    expect(record.tasks.map((t) => [t.createdAt / s, t.startedAt / s])).toEqual([[0, 10], [120, 120]]);
    expect(waitsOf(record)).toEqual([0, 10]);
    expect(figures.wait_s).toEqual({ p50: 0, p95: 10, p99: 10, mean: 5 });
    expect(livesOf(record)).toEqual([[0, 255, 255]]);
    expect(figures.billed_over_busy).toBeCloseTo(255 / 200, 12);
    expect(figures.cost_usd).toBeCloseTo(0.255, 12);
  });

  it('is gone once its idle timeout passed: a later task boots a new machine', async () => {
    // Task A 100 s at 0: machine 1 as above, idle from 110 s, exits at 140 s, terminated at
    // 145 s (billed 145 s). Task B 20 s at 200 s: no worker is left, machine 2 is requested
    // at 200 s, up at 210 s (wait 10 s), B runs 210 -> 230 s, idle until 260 s, terminated
    // at 265 s: lived 65 s, billed 65 s. Workers started 2, never 2 at once (peak 1).
    // Billed 145 + 65 = 210 s; cost $0.21.
    const { record, figures } = await run(trace([0, 100, 'r1'], [200, 20, 'r2']));
    expect(figures.workers_started).toBe(2);
    expect(figures.peak_workers).toBe(1);
    expect(waitsOf(record)).toEqual([10, 10]);
    expect(livesOf(record)).toEqual([[0, 145, 145], [200, 265, 65]]);
    expect(figures.cost_usd).toBeCloseTo(0.21, 12);
  });
});

describe('a burst bigger than the pool', () => {
  it('starts no more than maxWorkers, and queues the rest behind them', async () => {
    // Five 100 s tasks at 0 (one run), maxWorkers 2: two machines requested at 0, up at 10 s.
    // 10 -> 110 s: tasks 1, 2; 110 -> 210 s: tasks 3, 4 (each worker takes the next as it
    // finishes); 210 -> 310 s: task 5 on one worker. Waits 10, 10, 110, 110, 210 s:
    // p50 = 3rd of 5 = 110, p95 = p99 = 5th = 210, mean 450 / 5 = 90.
    // The worker left without a task at 210 s exits at 240 s, terminated at 245 s (billed
    // 245 s); the other finishes at 310 s, exits at 340 s, terminated at 345 s (billed 345 s).
    // Billed 590 s, busy 500 s (billed over busy 1.18), cost $0.59, peak 2.
    const { record, figures } = await run(trace([0, 100, 'b'], [0, 100, 'b'], [0, 100, 'b'], [0, 100, 'b'], [0, 100, 'b']), { pool: pool({ maxWorkers: 2 }) });
    expect(figures.workers_started).toBe(2);
    expect(figures.peak_workers).toBe(2);
    expect(waitsOf(record)).toEqual([10, 10, 110, 110, 210]);
    expect(figures.wait_s).toEqual({ p50: 110, p95: 210, p99: 210, mean: 90 });
    expect(livesOf(record)).toEqual([[0, 245, 245], [0, 345, 345]]);
    expect(figures.busy_hours).toBeCloseTo(500 / 3600, 12);
    expect(figures.billed_over_busy).toBeCloseTo(1.18, 12);
    expect(figures.cost_usd).toBeCloseTo(0.59, 12);
    expect(record.endedAt).toBe(345 * s);
  });

  it("holds to the pool's max_hourly_usd as it would to maxWorkers", async () => {
    // The same five tasks with room for ten workers but $7.20 an hour, which pays for two
    // machines at $3.60: the very figures of maxWorkers 2 above.
    const { record, figures } = await run(trace([0, 100, 'b'], [0, 100, 'b'], [0, 100, 'b'], [0, 100, 'b'], [0, 100, 'b']), { pool: pool({ maxHourlyUsd: 7.2 }) });
    expect(figures.workers_started).toBe(2);
    expect(figures.peak_workers).toBe(2);
    expect(waitsOf(record)).toEqual([10, 10, 110, 110, 210]);
    expect(livesOf(record)).toEqual([[0, 245, 245], [0, 345, 345]]);
    expect(figures.cost_usd).toBeCloseTo(0.59, 12);
  });

  it('starts one machine per task when the pool has room', async () => {
    // Three 100 s tasks at 0, maxWorkers 10: three machines at once, each task waits only
    // the boot (10 s), each machine lives 10 + 100 + 30 + 5 = 145 s. Billed 435 s, cost $0.435.
    const { record, figures } = await run(trace([0, 100, 'b'], [0, 100, 'b'], [0, 100, 'b']));
    expect(figures.workers_started).toBe(3);
    expect(figures.peak_workers).toBe(3);
    expect(waitsOf(record)).toEqual([10, 10, 10]);
    expect(livesOf(record)).toEqual([[0, 145, 145], [0, 145, 145], [0, 145, 145]]);
    expect(figures.cost_usd).toBeCloseTo(0.435, 12);
  });
});

describe('billing', () => {
  it('bills a short life per hour as one whole hour', async () => {
    // Task 100 s at 0: the machine lives 0 -> 145 s as in the first case, billed 3600 s
    // per hour. Billed 1 h, cost 1 h x $3.6 = $3.6; busy 100 s, billed over busy 36.
    const { record, figures } = await run(trace([0, 100, 'r1']), { cloud: hourlyCloud });
    expect(livesOf(record)).toEqual([[0, 145, 3600]]);
    expect(figures.billed_hours).toBeCloseTo(1, 12);
    expect(figures.cost_usd).toBeCloseTo(3.6, 12);
    expect(figures.billed_over_busy).toBeCloseTo(36, 12);
  });

  it('bills a life just over an hour per hour as two hours', async () => {
    // Task 3600 s at 0: runs 10 -> 3610 s, idle until 3640 s, terminated at 3645 s: lived
    // 3645 s, just over an hour, billed 2 started hours = 7200 s. Cost 2 h x $3.6 = $7.2.
    const { record, figures } = await run(trace([0, 3600, 'r1']), { cloud: hourlyCloud });
    expect(livesOf(record)).toEqual([[0, 3645, 7200]]);
    expect(figures.billed_hours).toBeCloseTo(2, 12);
    expect(figures.cost_usd).toBeCloseTo(7.2, 12);
  });

  it('bills a per-second life shorter than the minimum charge as the minimum', async () => {
    // Task 5 s at 0: runs 10 -> 15 s, idle until 45 s, terminated at 50 s: lived 50 s, under
    // the 60 s minimum: billed 60 s, cost $0.06.
    const { record, figures } = await run(trace([0, 5, 'r1']));
    expect(livesOf(record)).toEqual([[0, 50, 60]]);
    expect(figures.billed_hours).toBeCloseTo(60 / 3600, 12);
    expect(figures.cost_usd).toBeCloseTo(0.06, 12);
  });

  it('bills a per-second life by the second, rounded up, over the minimum', async () => {
    // Task 70.2 s at 0: runs 10 -> 80.2 s, idle until 110.2 s, terminated at 115.2 s:
    // lived 115.2 s, billed 116 s (whole seconds, rounded up). Cost $0.116.
    const { record, figures } = await run([{ at: 0, duration: 70_200, pool: 'linux', run: 'r1' }]);
    expect(livesOf(record)).toEqual([[0, 115.2, 116]]);
    expect(figures.cost_usd).toBeCloseTo(0.116, 12);
  });
});

describe('refused starts', () => {
  it('retries a refused start after the provider retry delay, and bills only the machine that started', async () => {
    // failureRate 0.5, seed 8: the cloud's generator (mulberry32) draws 0.156 then 0.625, so
    // the first start request (at 0) is refused and the second accepted. The coordinator
    // retries a refused start after providerRetry's first delay, 5 s: the machine is
    // requested at 5 s, up at 15 s; the 100 s task waits 15 s and runs 15 -> 115 s, idle
    // until 145 s, terminated at 150 s. Lived 145 s, billed 145 s; one machine (a refused
    // start is none), cost $0.145.
    const { record, figures } = await run(trace([0, 100, 'r1']), { cloud: { ...cloud, failureRate: 0.5, seed: 8 } });
    expect(figures.workers_started).toBe(1);
    expect(waitsOf(record)).toEqual([15]);
    expect(livesOf(record)).toEqual([[5, 150, 145]]);
    expect(figures.cost_usd).toBeCloseTo(0.145, 12);
  });
});

describe("figures' hourly table", () => {
  it('splits a task and a machine across the hours they span; the hours sum to the totals', async () => {
    // Task 1200 s created at 3000 s (50 min): machine requested at 3000 s, up at 3010 s, the
    // task runs 3010 -> 4210 s, idle until 4240 s, terminated at 4245 s (billed 1245 s).
    // The simulation ends at 4245 s: 2 hours in the table.
    // Hour 0 (0 - 3600 s): 1 task started (its wait 10 s), busy 3600 - 3010 = 590 s,
    //   billed 3600 - 3000 = 600 s.
    // Hour 1 (3600 s - end): no task started, busy 4210 - 3600 = 610 s, billed 4245 - 3600 = 645 s.
    // Sums: busy 1200 s = 1/3 h, billed 1245 s, the totals. One machine at most in each hour.
    const { figures } = await run(trace([3000, 1200, 'r1']));
    expect(figures.hours).toHaveLength(2);
    const [first, second] = figures.hours;
    expect(first).toMatchObject({ hour: 0, tasks_started: 1, peak_workers: 1, wait_p95_s: 10 });
    expect(first!.busy_hours).toBeCloseTo(590 / 3600, 12);
    expect(first!.billed_hours).toBeCloseTo(600 / 3600, 12);
    expect(second).toMatchObject({ hour: 1, tasks_started: 0, peak_workers: 1, wait_p95_s: 0 });
    expect(second!.busy_hours).toBeCloseTo(610 / 3600, 12);
    expect(second!.billed_hours).toBeCloseTo(645 / 3600, 12);
    expect(figures.busy_hours).toBeCloseTo(1200 / 3600, 12);
    expect(figures.billed_hours).toBeCloseTo(1245 / 3600, 12);
    expect(first!.busy_hours + second!.busy_hours).toBeCloseTo(figures.busy_hours, 12);
    expect(first!.billed_hours + second!.billed_hours).toBeCloseTo(figures.billed_hours, 12);
    expect(figures.simulated_hours).toBeCloseTo(4245 / 3600, 12);
  });

  it("counts what billing adds to a life in the hour the machine ended", async () => {
    // Per hour. Task 100 s created at 3550 s: machine requested at 3550 s, task runs
    // 3560 -> 3660 s, idle until 3690 s, terminated at 3695 s: lived 145 s, billed 3600 s.
    // Table: 2 hours (the end, 3695 s, is in hour 1).
    // Hour 0: busy 40 s (3560 -> 3600), billed 50 s of life (3550 -> 3600).
    // Hour 1: busy 60 s (3600 -> 3660), billed 95 s of life (3600 -> 3695) plus what billing
    //   adds, 3600 - 145 = 3455 s: 3550 s.
    // Sums: busy 100 s, billed 3600 s = 1 h, the totals.
    const { figures } = await run(trace([3550, 100, 'r1']), { cloud: hourlyCloud });
    expect(figures.hours).toHaveLength(2);
    const [first, second] = figures.hours;
    expect(first!.busy_hours).toBeCloseTo(40 / 3600, 12);
    expect(first!.billed_hours).toBeCloseTo(50 / 3600, 12);
    expect(second!.busy_hours).toBeCloseTo(60 / 3600, 12);
    expect(second!.billed_hours).toBeCloseTo(3550 / 3600, 12);
    expect(figures.billed_hours).toBeCloseTo(1, 12);
    expect(first!.billed_hours + second!.billed_hours).toBeCloseTo(figures.billed_hours, 12);
    expect(first!.busy_hours + second!.busy_hours).toBeCloseTo(figures.busy_hours, 12);
  });

  it('has one hour for a simulation shorter than an hour', async () => {
    // The first case's figures: one hour row holding everything (busy 100 s, billed 145 s).
    const { figures } = await run(trace([0, 100, 'r1']));
    expect(figures.hours).toHaveLength(1);
    expect(figures.hours[0]).toMatchObject({ hour: 0, tasks_started: 1, peak_workers: 1, wait_p95_s: 10 });
    expect(figures.hours[0]!.busy_hours).toBeCloseTo(100 / 3600, 12);
    expect(figures.hours[0]!.billed_hours).toBeCloseTo(145 / 3600, 12);
  });
});

describe('reading a trace', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'slipway-test-')); });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const line = (task: Record<string, unknown>): string => JSON.stringify(task);
  const good = { at: 0, duration: 1000, pool: 'linux', run: 'push-1' };

  it('reads a good file, skipping blank lines', async () => {
    const path = file('good.jsonl', [
      line(good), '', line({ at: 0, duration: 2500, pool: 'linux', run: 'push-1' }), '   ',
      line({ at: 60_000, duration: 0, pool: 'windows.2022', run: 'pr_7' }), '',
    ].join('\n'));
    expect(await readTrace(path)).toEqual([
      { at: 0, duration: 1000, pool: 'linux', run: 'push-1' },
      { at: 0, duration: 2500, pool: 'linux', run: 'push-1' },
      { at: 60_000, duration: 0, pool: 'windows.2022', run: 'pr_7' },
    ]);
  });

  it('reads CRLF line ends and leaves extra fields out', async () => {
    const path = file('crlf.jsonl', `${line({ ...good, note: 'x' })}\r\n${line({ ...good, at: 5 })}\r\n`);
    expect(await readTrace(path)).toEqual([good, { ...good, at: 5 }]);
  });

  it('refuses a line that is not JSON, at its line (blank lines counted)', async () => {
    const path = file('bad.jsonl', `${line(good)}\n\n{"at": 1, duration\n`);
    await expect(readTrace(path)).rejects.toThrow(TraceError);
    await expect(readTrace(path)).rejects.toThrow(new RegExp(`^${escape(path)}:3: not JSON`));
  });

  it('refuses a negative duration', async () => {
    const path = file('negative.jsonl', `${line(good)}\n${line({ ...good, duration: -5 })}\n`);
    await expect(readTrace(path)).rejects.toThrow(`${path}:2: duration must be a number of milliseconds, 0 or more (got -5)`);
  });

  it('refuses a missing pool', async () => {
    const { pool: _, ...noPool } = good;
    const path = file('nopool.jsonl', `${line(noPool)}\n`);
    await expect(readTrace(path)).rejects.toThrow(new RegExp(`^${escape(path)}:1: pool must be a name`));
  });

  it('refuses lines out of order by at', async () => {
    const path = file('order.jsonl', [line({ ...good, at: 10 }), line({ ...good, at: 20 }), line({ ...good, at: 15 })].join('\n'));
    await expect(readTrace(path)).rejects.toThrow(`${path}:3: at 15 comes before the previous line's 20`);
  });

  it('refuses an empty file, and one of blank lines only', async () => {
    for (const [name, text] of [['empty.jsonl', ''], ['blank.jsonl', '\n  \n\n']] as const) {
      const path = file(name, text);
      await expect(readTrace(path)).rejects.toThrow(TraceError);
      await expect(readTrace(path)).rejects.toThrow(`${path}: no tasks`);
    }
  });

  it('refuses other bad lines: not an object, a bad at, a bad run name', async () => {
    const cases: [string, string][] = [
      ['[1, 2]', ':1: a task is a JSON object'],
      [line({ ...good, at: '0' }), ':1: at must be a number of milliseconds'],
      [line({ ...good, run: 'has space' }), ':1: run must be a name'],
    ];
    for (const [i, [text, message]] of cases.entries()) {
      const path = file(`other-${i}.jsonl`, `${text}\n`);
      await expect(readTrace(path)).rejects.toThrow(`${path}${message}`);
    }
  });

  it('says a missing file is missing', async () => {
    const path = join(dir, 'none.jsonl');
    await expect(readTrace(path)).rejects.toThrow(`${path}: no such file`);
  });
});

describe('determinism', () => {
  // Several runs over two pools, a burst past a cap, idle reuse and an idle timeout longer
  // than a heartbeat interval: nothing in the figures but the wall-clock run time may differ.
  const mixed: TraceTask[] = [
    { at: 0, duration: 100 * s, pool: 'linux', run: 'a' },
    { at: 0, duration: 300 * s, pool: 'linux', run: 'a' },
    { at: 0, duration: 50 * s, pool: 'linux', run: 'a' },
    { at: 0, duration: 200 * s, pool: 'windows', run: 'w' },
    { at: 30 * s, duration: 80 * s, pool: 'linux', run: 'b' },
    { at: 30 * s, duration: 20 * s, pool: 'linux', run: 'b' },
    { at: 400 * s, duration: 1000 * s, pool: 'windows', run: 'w2' },
    { at: 500 * s, duration: 10 * s, pool: 'linux', run: 'c' },
    { at: 3500 * s, duration: 600 * s, pool: 'linux', run: 'd' },
  ];
  const pools = { linux: pool({ maxWorkers: 2 }), windows: pool({ maxWorkers: 1, idleTimeoutMs: 400 * s }) };
  const without = ({ run_seconds: _, ...rest }: SimulationFigures): Omit<SimulationFigures, 'run_seconds'> => rest;

  it('gives the same figures for the same trace simulated twice', async () => {
    const first = await simulate(mixed, { cloud, pools });
    const second = await simulate(mixed, { cloud, pools });
    expect(without(figuresOf(second, cloud.hourlyUsd))).toEqual(without(figuresOf(first, cloud.hourlyUsd)));
    expect(first.tasks).toHaveLength(mixed.length);
  });

  it('does not depend on how often it samples', async () => {
    // Samples are timers too, but only observe: with one every 5 s instead of every minute,
    // every task starts when it did and every machine lives as long.
    const coarse = await simulate(mixed, { cloud, pools });
    const fine = await simulate(mixed, { cloud, pools, sampleMs: 5 * s });
    const lives = (record: SimulationRecord) => record.machines.map((m) => [m.requestedAt, m.terminatedAt, m.billedSeconds]).sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
    const starts = (record: SimulationRecord) => record.tasks.map((t) => [t.createdAt, t.startedAt, t.duration]).sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!);
    expect(lives(fine)).toEqual(lives(coarse));
    expect(starts(fine)).toEqual(starts(coarse));
    expect(fine.endedAt).toBe(coarse.endedAt);
  });

  it('draws the same refused starts from the same seed', async () => {
    // Seed 7's first two draws (0.012, 0.062) are under 0.3: starts are refused and retried.
    const failing: CloudModel = { ...cloud, failureRate: 0.3, seed: 7 };
    const first = await simulate(mixed, { cloud: failing, pools });
    const second = await simulate(mixed, { cloud: failing, pools });
    expect(without(figuresOf(second, failing.hourlyUsd))).toEqual(without(figuresOf(first, failing.hourlyUsd)));
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
