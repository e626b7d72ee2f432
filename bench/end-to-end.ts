/**
 * End to end, as a user runs it: `slipway run` on a pipeline of tasks running `true`, with
 * the real local agents, each task in a fresh copy of a small source tree. Figures: wall
 * time and tasks/s with 8 workers; per-task overhead p50/p99; the same small pipeline with
 * 1 worker and with 8. Beside them, the floor measured in the same run:
 * `seq N | xargs -P8 -n1 bash -c true`.
 *
 * The store keeps when each attempt started (handed to its worker) and finished (its end
 * recorded), and how long its script ran as its agent measured it (from asking for its start
 * to seeing its exit): the overhead of a task is its attempt time less its script's.
 *
 *   node bench/end-to-end.ts [--tasks N] [--small N] [--json]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '../test/helpers/cli.ts';
import { processesUnder } from '../test/helpers/processes.ts';
import { tempDir } from '../test/helpers/temp.ts';

const { values: options } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    tasks: { type: 'string', default: '2000' },
    small: { type: 'string', default: '20' },
  },
});
const json = options.json;
const tasks = count('--tasks', options.tasks);
const smallTasks = count('--small', options.small);
const workers = 8;
const cli = join(repoRoot, 'src/cli/main.ts');

function count(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} takes a positive whole number, not '${text}'`);
  return n;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function round(n: number, digits = 3): number {
  return Number(n.toFixed(digits));
}

/** Children running now, stopped by pid if the bench is interrupted. */
const running = new Set<ChildProcess>();
let interrupted = false;
const onInterrupt = (): void => {
  interrupted = true;
  for (const child of running) child.kill('SIGTERM');
};
process.on('SIGINT', onInterrupt);
process.on('SIGTERM', onInterrupt);

function exited(child: ChildProcess): Promise<number | null> {
  running.add(child);
  return new Promise((resolve, reject) => {
    child.once('error', (error) => { running.delete(child); reject(error); });
    child.once('close', (code) => { running.delete(child); resolve(code); });
  });
}

/** Milliseconds `once` takes, p50 of `n` in a row. */
async function p50Ms(once: () => Promise<void>, n = 50): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n && !interrupted; i++) {
    const t0 = performance.now();
    await once();
    if (interrupted) throw new Error('interrupted');
    times.push(performance.now() - t0);
  }
  return percentile(times.sort((a, b) => a - b), 50);
}

/** One spawn of `command args`, to its exit. */
async function spawnOnce(command: string, args: string[]): Promise<void> {
  const code = await exited(spawn(command, args, { stdio: 'ignore' }));
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${code}`);
}

/** Wall milliseconds of `seq n | xargs -P<parallel> -n1 bash -c true`, piped here: no shell line is built. */
async function xargsFloor(n: number, parallel: number): Promise<number> {
  const t0 = performance.now();
  const seq = spawn('seq', [String(n)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const xargs = spawn('xargs', [`-P${parallel}`, '-n1', 'bash', '-c', 'true'], { stdio: ['pipe', 'ignore', 'inherit'] });
  seq.stdout.pipe(xargs.stdin);
  const [seqCode, xargsCode] = await Promise.all([exited(seq), exited(xargs)]);
  if (interrupted) throw new Error('interrupted');
  if (seqCode !== 0 || xargsCode !== 0) throw new Error(`the floor failed: seq exited ${seqCode}, xargs ${xargsCode}`);
  return performance.now() - t0;
}

/** Two axes whose product is `n` (100 x 100 for 10,000), as a user would write it. */
function matrixOf(n: number): { a: string[]; b: string[] } {
  let a = Math.floor(Math.sqrt(n));
  while (n % a !== 0) a--;
  const values = (length: number) => Array.from({ length }, (_, i) => JSON.stringify(String(i)));
  return { a: values(a), b: values(n / a) };
}

function pipelineText(n: number, maxWorkers: number): string {
  const { a, b } = matrixOf(n);
  return [
    'name: bench-end-to-end',
    'matrix:',
    `  a: [${a.join(', ')}]`,
    `  b: [${b.join(', ')}]`,
    'activities:',
    '  runner:',
    '    provider: local',
    `    max_workers: ${maxWorkers}`,
    '    idle_timeout: 30s',
    'steps:',
    '  noop:',
    '    over: [a, b]',
    '    run: "true"',
    '',
  ].join('\n');
}

/** A small source tree: what each task gets a fresh copy of. */
function writeSourceTree(dir: string): void {
  mkdirSync(join(dir, 'src'), { recursive: true });
  mkdirSync(join(dir, 'scripts'), { recursive: true });
  writeFileSync(join(dir, 'README.md'), '# bench\n\nA small tree for the end-to-end benchmark.\n');
  writeFileSync(join(dir, 'Makefile'), 'all:\n\tcc -o hello src/hello.c\n');
  writeFileSync(join(dir, 'src/hello.c'), '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n');
  writeFileSync(join(dir, 'src/data.txt'), 'x'.repeat(16 * 1024));
  writeFileSync(join(dir, 'scripts/check.sh'), '#!/usr/bin/env bash\ntest -f README.md\n', { mode: 0o755 });
}

interface RunFigures {
  tasks: number;
  workers: number;
  /** From starting `slipway run` to its exit: node's start, the archive, workers starting and stopping. */
  wallMs: number;
  /** From the first attempt's start to the last one's end, as the store has them. */
  spanMs: number;
  /** From starting `slipway run` to the first attempt's start: node, the store, the archive, the first worker. */
  beforeFirstMs: number;
  /** From the last attempt's end to the exit of `slipway run`: workers stopping, the report. */
  afterLastMs: number;
  /** Attempt time less its script's, sorted. */
  overheadMs: number[];
  attemptMs: number[];
  scriptMs: number[];
  leftovers: number;
}

interface Report {
  run: { status: string };
  tasks: { attempts: { started_at: string; finished_at: string | null; script_ms: number | null }[] }[];
}

/** One `slipway run --json` of `n` tasks on up to `maxWorkers` local workers, in a state directory of its own. */
async function slipwayRun(root: string, source: string, label: string, n: number, maxWorkers: number): Promise<RunFigures> {
  const file = join(source, `${label}.yml`);
  writeFileSync(file, pipelineText(n, maxWorkers));
  const env = {
    ...process.env, XDG_STATE_HOME: join(root, `state-${label}`), XDG_CONFIG_HOME: join(root, 'config'),
    SLIPWAY_CONFIG: '', NO_COLOR: '1', SLIPWAY_COMMAND: 'slipway',
  };
  const t0 = performance.now();
  const startedAt = Date.now();
  const child = spawn(process.execPath, [cli, 'run', file, '--json'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: Buffer[] = [];
  let stderrTail = '';
  child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => { stderrTail = (stderrTail + chunk.toString()).slice(-4000); });
  const code = await exited(child);
  const wallMs = performance.now() - t0;
  const endedAt = Date.now();
  const leftovers = stopLeftovers(root);
  if (interrupted) throw new Error('interrupted');
  if (code !== 0) throw new Error(`slipway run ${label}.yml exited ${code}:\n${stderrTail}`);
  const report = JSON.parse(Buffer.concat(stdout).toString()) as Report;
  const attempts = report.tasks.flatMap((t) => t.attempts).map((a) => ({ start: Date.parse(a.started_at), end: Date.parse(a.finished_at!), script: a.script_ms! }));
  const byValue = (a: number, b: number) => a - b;
  const first = Math.min(...attempts.map((a) => a.start));
  const last = Math.max(...attempts.map((a) => a.end));
  return {
    tasks: report.tasks.length, workers: maxWorkers, wallMs, leftovers,
    attemptMs: attempts.map((a) => a.end - a.start).sort(byValue),
    scriptMs: attempts.map((a) => a.script).sort(byValue),
    overheadMs: attempts.map((a) => a.end - a.start - a.script).sort(byValue),
    spanMs: last - first, beforeFirstMs: first - startedAt, afterLastMs: endedAt - last,
  };
}

/** Stops by pid whatever a run left behind in its directory (nothing, when all is well); says how many. */
function stopLeftovers(root: string): number {
  const left = processesUnder(root);
  for (const { pid, cmdline } of left) {
    process.stderr.write(`end-to-end bench: stopping leftover process ${pid}: ${cmdline}\n`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
  return left.length;
}

function summary(run: RunFigures) {
  return {
    tasks: run.tasks, workers: run.workers,
    wall_s: round(run.wallMs / 1000, 2), span_s: round(run.spanMs / 1000, 2),
    before_first_attempt_s: round(run.beforeFirstMs / 1000, 2), after_last_attempt_s: round(run.afterLastMs / 1000, 2),
    tasks_per_second: round(run.tasks / (run.wallMs / 1000), 1),
    attempt_ms: { p50: percentile(run.attemptMs, 50), p99: percentile(run.attemptMs, 99) },
    script_ms: { p50: percentile(run.scriptMs, 50), p99: percentile(run.scriptMs, 99) },
    overhead_ms: { p50: percentile(run.overheadMs, 50), p99: percentile(run.overheadMs, 99) },
    leftover_processes: run.leftovers,
  };
}

const dir = tempDir('slipway-bench-e2e-');
try {
  const loadBefore = loadavg();
  const source = join(dir.path, 'source');
  writeSourceTree(source);

  const bashTrueMs = await p50Ms(() => spawnOnce('bash', ['-c', 'true']));
  const floorMs = await xargsFloor(tasks, workers);
  const big = summary(await slipwayRun(dir.path, source, 'wide', tasks, workers));
  const one = summary(await slipwayRun(dir.path, source, 'small-1', smallTasks, 1));
  const eight = summary(await slipwayRun(dir.path, source, 'small-8', smallTasks, workers));

  const result = {
    tasks_per_second: big.tasks_per_second,
    wall_s: big.wall_s,
    overhead_ms: big.overhead_ms,
    runs: { wide: big, small_1_worker: one, small_8_workers: eight },
    floors: { xargs_s: round(floorMs / 1000, 2), bash_true_ms: round(bashTrueMs, 2) },
    ratios: { run_over_floor: round(big.wall_s / (floorMs / 1000), 2), small_8_workers_over_1: round(eight.wall_s / one.wall_s, 2), small_8_workers_over_1_attempts: round(eight.span_s / one.span_s, 2) },
    setup: { tasks, small_tasks: smallTasks, workers, cpus: availableParallelism(), load_before: loadBefore.map((l) => round(l, 2)), load_after: loadavg().map((l) => round(l, 2)) },
  };
  if (json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    const small = (r: typeof one) => `${r.wall_s} s (attempts ${r.span_s} s, overhead p50 ${r.overhead_ms.p50} ms, p99 ${r.overhead_ms.p99} ms)`;
    const around = (r: typeof one) => `${r.before_first_attempt_s} s before the first attempt, ${r.after_last_attempt_s} s after the last`;
    process.stdout.write([
      `end to end, slipway run with ${workers} local workers (${big.tasks} tasks running \`true\`): ${big.wall_s} s, ${big.tasks_per_second} tasks/s (first attempt start to last end ${big.span_s} s; ${around(big)})`,
      `per-task overhead (attempt time in the store less its script's, as its agent measured it): p50 ${big.overhead_ms.p50} ms, p99 ${big.overhead_ms.p99} ms (attempt p50 ${big.attempt_ms.p50} ms, p99 ${big.attempt_ms.p99} ms; script p50 ${big.script_ms.p50} ms, p99 ${big.script_ms.p99} ms)`,
      `${smallTasks} tasks: 1 worker ${small(one)}; ${workers} workers ${small(eight)}`,
      `  outside the attempts: 1 worker ${around(one)}; ${workers} workers ${around(eight)}`,
      `floors: seq ${tasks} | xargs -P${workers} -n1 bash -c true ${result.floors.xargs_s} s; one bash -c true ${result.floors.bash_true_ms} ms, alone`,
      `ratios: run = ${result.ratios.run_over_floor} floors; ${smallTasks} tasks on ${workers} workers take ${result.ratios.small_8_workers_over_1} times as long as on 1 (attempts only: ${result.ratios.small_8_workers_over_1_attempts})`,
      `load average ${result.setup.load_before.join(' ')} before, ${result.setup.load_after.join(' ')} after (${result.setup.cpus} CPUs)`,
      ...([big, one, eight].some((r) => r.leftover_processes > 0) ? [`leftover processes stopped: ${big.leftover_processes + one.leftover_processes + eight.leftover_processes}`] : []),
      '',
    ].join('\n'));
  }
} finally {
  for (const child of running) child.kill('SIGKILL');
  stopLeftovers(dir.path);
  dir.remove();
  process.off('SIGINT', onInterrupt);
  process.off('SIGTERM', onInterrupt);
}
