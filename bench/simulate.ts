/**
 * What the fleet costs on a day of CI load (issue 17): `slipway simulate`'s default policy
 * on the shared trace (../shared/traces/synthetic-day.jsonl, or --trace FILE), on
 * Taskcluster's simulator's cloud (20 s boot, 200 s from stop to terminated, per-second
 * billing with a 60 s minimum). Prints billed/busy and task waits beside Taskcluster's own
 * figures on that trace (1.68, p95 5.3 s) and the least a fleet bills with perfect foresight,
 * and how fast the simulation ran. --json prints one object.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { figuresOf } from '../src/simulator/figures.ts';
import { foresightBilledOverBusy } from '../src/simulator/foresight.ts';
import { taskclusterCloud } from '../src/simulator/simulated-cloud.ts';
import { defaultPool, simulate } from '../src/simulator/simulation.ts';
import { readTrace } from '../src/simulator/trace.ts';

const argv = process.argv.slice(2);
const json = argv.includes('--json');
const traceAt = argv.indexOf('--trace');
const file = traceAt >= 0 ? argv[traceAt + 1]! : fileURLToPath(new URL('../../shared/traces/synthetic-day.jsonl', import.meta.url));
/** Taskcluster's "simple estimate" provisioner on the shared trace, as the issue gives it. */
const taskcluster = { billed_over_busy: 1.68, wait_p95_s: 5.3 };

if (!existsSync(file)) {
  if (json) process.stdout.write(`${JSON.stringify({ skipped: `no trace at ${file}` })}\n`);
  else process.stdout.write(`simulate: skipped, no trace at ${file} (pass --trace FILE)\n`);
  process.exit(0);
}
const trace = await readTrace(file);
const pools = Object.fromEntries([...new Set(trace.map((t) => t.pool))].map((name) => [name, defaultPool(taskclusterCloud)]));
const figures = figuresOf(await simulate(trace, { cloud: taskclusterCloud, pools }), taskclusterCloud.hourlyUsd);
const { hours: _hours, ...summary } = figures;
const result = {
  trace: file, ...summary,
  tasks_simulated_per_second: figures.tasks / figures.run_seconds,
  taskcluster,
  ratio_to_taskcluster: figures.billed_over_busy / taskcluster.billed_over_busy,
  foresight_billed_over_busy: foresightBilledOverBusy(trace, taskclusterCloud)!,
};
if (json) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  process.stdout.write([
    `simulate: ${figures.tasks} tasks (${figures.simulated_hours.toFixed(1)} h of load) in ${figures.run_seconds.toFixed(1)} s, ${result.tasks_simulated_per_second.toFixed(0)} tasks/s`,
    `  billed/busy ${figures.billed_over_busy.toFixed(3)} (Taskcluster 1.68: ratio ${result.ratio_to_taskcluster.toFixed(2)}; with perfect foresight and no wait ${result.foresight_billed_over_busy.toFixed(3)}), ${figures.workers_started} workers started, at most ${figures.peak_workers} at once`,
    `  task wait p50 ${figures.wait_s.p50.toFixed(1)} s, p95 ${figures.wait_s.p95.toFixed(1)} s (Taskcluster 5.3 s), p99 ${figures.wait_s.p99.toFixed(1)} s, mean ${figures.wait_s.mean.toFixed(2)} s`,
  ].join('\n') + '\n');
}
