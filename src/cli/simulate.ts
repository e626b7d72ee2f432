import { statSync, writeFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { loadConfig } from '../config/load.ts';
import { operatorPools } from '../config/pools.ts';
import type { BillingMode } from '../engine/cost.ts';
import { formatDuration, parseDuration } from '../pipeline/duration.ts';
import type { OperatorPool } from '../pipeline/types.ts';
import { figuresOf, type SimulationFigures } from '../simulator/figures.ts';
import { foresightBilledOverBusy } from '../simulator/foresight.ts';
import { plotSvg } from '../simulator/plot.ts';
import { taskclusterCloud, type CloudModel } from '../simulator/simulated-cloud.ts';
import { defaultPool, simulate, type SimulationRecord } from '../simulator/simulation.ts';
import { readTrace, TraceError, type TraceTask } from '../simulator/trace.ts';
import { table } from './format.ts';
import { UsageError } from './usage-error.ts';

interface SimulateOptions {
  boot: string; stopDelay: string; billing: BillingMode; minCharge: string; price: string; failureRate: string; seed: string;
  maxWorkers?: string; maxHourlyUsd?: string; idleTimeout?: string; minIdle?: string;
  sweep?: boolean; json?: boolean; plot?: string;
}

/** The idle timeouts --sweep tries. */
const sweepIdleTimeouts = ['30s', '1m', '2m', '3m', '5m', '10m', '15m', '30m'];

export function registerSimulate(program: Command): void {
  program.command('simulate')
    .description('replay a trace of CI load through the real coordinator on a simulated cloud, and say what the fleet would cost and how long tasks would wait')
    .argument('<trace>', 'JSON lines, one task per line, sorted by at: {"at": ms, "duration": ms, "pool": "linux", "run": "push-17"}')
    .option('--boot <duration>', 'from a start request to the worker registering', '20s')
    .option('--stop-delay <duration>', 'from a stop to the machine terminated (billed)', '200s')
    .addOption(new Option('--billing <mode>', 'how machines are billed').choices(['per-second', 'per-hour']).default('per-second'))
    .option('--min-charge <duration>', 'the least a per-second machine is billed', '60s')
    .option('--price <usd>', 'USD per machine hour', '0.10')
    .option('--failure-rate <share>', 'the share of start requests the cloud refuses, 0 to 1', '0')
    .option('--seed <n>', 'seeds the refused starts', '1')
    .option('--max-workers <n>', "every pool's cap (default: the config's [pools.NAME], else 1000)")
    .option('--max-hourly-usd <usd>', "every pool's spend cap: never more live machines than cost this much per hour at --price (default: the config's [pools.NAME], else none)")
    .option('--idle-timeout <duration>', "every pool's idle_timeout (default: the config's [pools.NAME], else boot + stop delay: what replacing a worker costs)")
    .option('--min-idle <n|auto>', "every pool's warm workers, or auto (default: the config's [pools.NAME], else auto)")
    .option('--sweep', `simulate each idle timeout of ${sweepIdleTimeouts.join(', ')} and print billed/busy against the p95 wait`)
    .option('--json', 'print the figures as one JSON object (with --sweep, one per setting)')
    .option('--plot <file.svg>', 'also draw live (billed) workers, busy workers and queued tasks over time into an SVG file')
    .addHelpText('after', `
The trace runs through Slipway's own coordinator (store, provisioner, health check, claims)
on a simulated clock: nothing sleeps, a day of load takes a minute or two. The defaults are
Taskcluster's simulator's cloud: 20 s boot, 200 s from stop to terminated, per-second
billing with a 60 s minimum, billed from the request to termination. Each pool of the trace
is the config's [pools.NAME] when it defines one (its machines simulated whatever its provider).

Examples:
  slipway simulate ../shared/traces/synthetic-day.jsonl
  slipway simulate trace.jsonl --idle-timeout 3m --json | jq .billed_over_busy
  slipway simulate trace.jsonl --billing per-hour --price 0.46
  slipway simulate trace.jsonl --sweep
  slipway simulate trace.jsonl --plot day.svg`)
    .action(async (file: string, options: SimulateOptions) => {
      if (options.plot !== undefined) {
        if (options.sweep) throw new UsageError('--plot draws one simulation: it cannot go with --sweep');
        const directory = dirname(resolve(options.plot));
        if (!statSync(directory, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`--plot: no such directory: ${directory}`);
      }
      const cloud = cloudOf(options);
      const trace = await readTrace(file).catch((error: unknown) => {
        throw error instanceof TraceError ? new UsageError(error.message) : error;
      });
      const pools = poolsOf(trace, options, cloud);
      if (options.sweep) {
        await sweep(trace, cloud, pools, options.json === true);
        return;
      }
      const { record, figures } = await run(trace, cloud, pools);
      if (options.plot !== undefined) {
        try {
          writeFileSync(options.plot, plotSvg(record, figures, basename(file)));
        } catch (error) {
          throw new UsageError(`--plot: cannot write ${options.plot}: ${(error as Error).message}`);
        }
        process.stderr.write(`plot written to ${options.plot}\n`);
      }
      process.stdout.write(options.json ? `${JSON.stringify(figures, null, 2)}\n` : report(basename(file), figures, cloud, pools));
    });
}

/** The figures `slipway simulate` prints: the simulation's, and the yardstick of perfect foresight (see foresightBilledOverBusy). */
type SimulateFigures = SimulationFigures & { foresight_billed_over_busy: number | null };

async function run(trace: readonly TraceTask[], cloud: CloudModel, pools: Record<string, OperatorPool>): Promise<{ record: SimulationRecord; figures: SimulateFigures }> {
  const total = trace.at(-1)!.at;
  let shownHour = -1;
  const onProgress = process.stderr.isTTY ? (at: number, finished: number) => {
    const hour = Math.floor(at / 3_600_000);
    if (hour === shownHour) return;
    shownHour = hour;
    process.stderr.write(`\rsimulated ${formatDuration(Math.min(at, total))} of ${formatDuration(total)}: ${finished} of ${trace.length} tasks done `);
  } : undefined;
  try {
    const record = await simulate(trace, { cloud, pools, ...(onProgress && { onProgress }) });
    return { record, figures: { ...figuresOf(record, cloud.hourlyUsd), foresight_billed_over_busy: foresightBilledOverBusy(trace, cloud) ?? null } };
  } finally {
    if (onProgress) process.stderr.write('\r\x1b[K');
  }
}

async function sweep(trace: readonly TraceTask[], cloud: CloudModel, pools: Record<string, OperatorPool>, json: boolean): Promise<void> {
  const results: (SimulateFigures & { idle_timeout: string })[] = [];
  if (!json) process.stdout.write(`idle_timeout  billed/busy  p95 wait  mean wait  workers started  simulated in\n`);
  for (const idleTimeout of sweepIdleTimeouts) {
    const ms = parseDuration(idleTimeout);
    const { figures } = await run(trace, cloud, Object.fromEntries(Object.entries(pools).map(([name, pool]) => [name, { ...pool, idleTimeoutMs: ms }])));
    results.push({ idle_timeout: idleTimeout, ...figures });
    if (!json) {
      process.stdout.write(`${idleTimeout.padEnd(12)}  ${figures.billed_over_busy.toFixed(3).padStart(11)}  ${`${figures.wait_s.p95.toFixed(1)} s`.padStart(8)}  ${`${figures.wait_s.mean.toFixed(2)} s`.padStart(9)}  ${String(figures.workers_started).padStart(15)}  ${figures.run_seconds.toFixed(0)} s\n`);
    }
  }
  if (json) process.stdout.write(`${JSON.stringify(results.map(({ hours: _hours, ...rest }) => rest), null, 2)}\n`);
  const foresight = foresightBilledOverBusy(trace, cloud);
  if (!json && foresight !== undefined) process.stdout.write(`with foresight ${foresight.toFixed(3)}     0.0 s: the least any policy bills with no task waiting\n`);
}

function cloudOf(options: SimulateOptions): CloudModel {
  const duration = (flag: string, text: string) => {
    try {
      return parseDuration(text);
    } catch (error) {
      throw new UsageError(`${flag}: ${(error as Error).message}`);
    }
  };
  return {
    ...taskclusterCloud,
    bootMs: duration('--boot', options.boot),
    stopDelayMs: duration('--stop-delay', options.stopDelay),
    billing: options.billing,
    minChargeMs: duration('--min-charge', options.minCharge),
    hourlyUsd: numberFlag('--price', options.price, (n) => n >= 0, 'USD per hour, 0 or more'),
    failureRate: numberFlag('--failure-rate', options.failureRate, (n) => n >= 0 && n < 1, 'a share from 0 up to (not including) 1'),
    seed: numberFlag('--seed', options.seed, Number.isInteger, 'a whole number'),
  };
}

/** A number flag, refused with what it expects unless `check` holds. */
function numberFlag(flag: string, text: string, check: (n: number) => boolean, what: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || !check(n)) throw new UsageError(`${flag}: expected ${what}, got ${JSON.stringify(text)}`);
  return n;
}

/** Each pool of the trace: the config's [pools.NAME], else the default, with the flags over either. */
function poolsOf(trace: readonly TraceTask[], options: SimulateOptions, cloud: CloudModel): Record<string, OperatorPool> {
  const configured = operatorPools(loadConfig());
  const whole = (flag: string, text: string, least: number) => numberFlag(flag, text, (n) => Number.isInteger(n) && n >= least, `a whole number, ${least} or more`);
  const overrides: Partial<OperatorPool> = {
    ...(options.maxWorkers !== undefined && { maxWorkers: whole('--max-workers', options.maxWorkers, 1) }),
    ...(options.minIdle !== undefined && { minIdle: options.minIdle === 'auto' ? 'auto' : whole('--min-idle', options.minIdle, 0) }),
    ...(options.maxHourlyUsd !== undefined && { maxHourlyUsd: numberFlag('--max-hourly-usd', options.maxHourlyUsd, (n) => n > 0, 'USD per hour, more than 0') }),
  };
  if (options.idleTimeout !== undefined) {
    try {
      overrides.idleTimeoutMs = parseDuration(options.idleTimeout);
    } catch (error) {
      throw new UsageError(`--idle-timeout: ${(error as Error).message}`);
    }
  }
  const names = [...new Set(trace.map((t) => t.pool))];
  return Object.fromEntries(names.map((name) => [name, { ...(configured[name] ?? defaultPool(cloud)), ...overrides }]));
}

function report(file: string, f: SimulateFigures, cloud: CloudModel, pools: Record<string, OperatorPool>): string {
  const hours = (h: number) => h.toFixed(h < 10 ? 2 : 1);
  const lines = [
    `Simulated ${f.tasks} tasks of ${file} (${hours(f.simulated_hours)} h of load) in ${f.run_seconds.toFixed(1)} s`,
    ...Object.entries(pools).map(([name, p]) => `  pool ${name}: at most ${p.maxWorkers} workers${p.maxHourlyUsd === undefined ? '' : ` or $${p.maxHourlyUsd.toFixed(2)}/h`}, idle_timeout ${formatDuration(p.idleTimeoutMs)}, min_idle ${p.minIdle}`),
    `  cloud: boot ${formatDuration(cloud.bootMs)}, ${formatDuration(cloud.stopDelayMs)} from stop to terminated, ${cloud.billing} billing${cloud.billing === 'per-second' ? ` (${formatDuration(cloud.minChargeMs)} minimum)` : ''}, $${cloud.hourlyUsd.toFixed(2)}/h${cloud.failureRate > 0 ? `, ${(cloud.failureRate * 100).toFixed(1)}% of starts refused` : ''}`,
    '',
    `  workers started  ${f.workers_started} (at most ${f.peak_workers} at once)`,
    `  busy             ${hours(f.busy_hours)} h`,
    `  billed           ${hours(f.billed_hours)} h = ${f.billed_over_busy.toFixed(2)} x busy, $${f.cost_usd.toFixed(2)}`,
    ...(f.foresight_billed_over_busy === null ? [] : [
      `  with foresight   ${f.foresight_billed_over_busy.toFixed(2)} x busy: the least any policy bills with no task waiting (every machine up as a task needs it)`,
    ]),
    `  task wait        p50 ${f.wait_s.p50.toFixed(1)} s, p95 ${f.wait_s.p95.toFixed(1)} s, p99 ${f.wait_s.p99.toFixed(1)} s, mean ${f.wait_s.mean.toFixed(2)} s (creation to start)`,
    '',
    table(f.hours.map((h) => [
      String(h.hour), String(h.tasks_started), hours(h.busy_hours), hours(h.billed_hours),
      h.busy_hours > 0 ? (h.billed_hours / h.busy_hours).toFixed(2) : '-', String(h.peak_workers), `${h.wait_p95_s.toFixed(1)} s`,
    ]), ['hour', 'tasks', 'busy h', 'billed h', 'billed/busy', 'peak', 'p95 wait']).replace(/^/gm, '  '),
  ];
  return `${lines.join('\n')}\n`;
}
