import type { SimulationRecord } from './simulation.ts';

/** One hour of a simulation, from its start. */
export interface HourFigures {
  hour: number;
  tasks_started: number;
  busy_hours: number;
  billed_hours: number;
  /** The most machines billed at once in the hour (sampled). */
  peak_workers: number;
  wait_p95_s: number;
}

/** What a simulation cost and how long tasks waited: `slipway simulate --json` prints this object. */
export interface SimulationFigures {
  tasks: number;
  workers_started: number;
  busy_hours: number;
  billed_hours: number;
  billed_over_busy: number;
  cost_usd: number;
  /** From a task's creation to its start. */
  wait_s: { p50: number; p95: number; p99: number; mean: number };
  peak_workers: number;
  simulated_hours: number;
  /** Wall-clock seconds the simulation took. */
  run_seconds: number;
  hours: HourFigures[];
}

const hourMs = 3_600_000;

export function figuresOf(record: SimulationRecord, hourlyUsd: number): SimulationFigures {
  const busySeconds = record.tasks.reduce((sum, t) => sum + t.duration, 0) / 1000;
  const billedSeconds = record.machines.reduce((sum, m) => sum + m.billedSeconds, 0);
  const waits = record.tasks.map((t) => (t.startedAt - t.createdAt) / 1000);
  const hourCount = Math.max(1, Math.ceil(record.endedAt / hourMs));
  const hours: HourFigures[] = Array.from({ length: hourCount }, (_, hour) => ({ hour, tasks_started: 0, busy_hours: 0, billed_hours: 0, peak_workers: 0, wait_p95_s: 0 }));
  const hourOf = (at: number) => hours[Math.min(hourCount - 1, Math.floor(at / hourMs))]!;
  const hourWaits: number[][] = hours.map(() => []);
  for (const task of record.tasks) {
    hourOf(task.startedAt).tasks_started += 1;
    hourWaits[hours.indexOf(hourOf(task.startedAt))]!.push((task.startedAt - task.createdAt) / 1000);
    spread(task.startedAt, task.startedAt + task.duration, (hour, ms) => { hours[hour]!.busy_hours += ms / hourMs; });
  }
  for (const machine of record.machines) {
    spread(machine.requestedAt, machine.terminatedAt, (hour, ms) => { hours[hour]!.billed_hours += ms / hourMs; });
    // What billing adds to the time run (a minimum, whole hours) counts in the hour it ended.
    const extraMs = machine.billedSeconds * 1000 - (machine.terminatedAt - machine.requestedAt);
    hourOf(machine.terminatedAt).billed_hours += extraMs / hourMs;
  }
  for (const sample of record.samples) hourOf(sample.at).peak_workers = Math.max(hourOf(sample.at).peak_workers, sample.live);
  hours.forEach((hour, i) => { hour.wait_p95_s = percentile(hourWaits[i]!, 0.95); });

  function spread(from: number, to: number, add: (hour: number, ms: number) => void): void {
    for (let at = from; at < to;) {
      const hour = Math.min(hourCount - 1, Math.floor(at / hourMs));
      const end = hour === hourCount - 1 ? to : Math.min(to, (hour + 1) * hourMs);
      add(hour, end - at);
      at = end;
    }
  }

  return {
    tasks: record.tasks.length,
    workers_started: record.machines.length,
    busy_hours: busySeconds / 3600,
    billed_hours: billedSeconds / 3600,
    billed_over_busy: busySeconds === 0 ? 0 : billedSeconds / busySeconds,
    cost_usd: (billedSeconds / 3600) * hourlyUsd,
    wait_s: { p50: percentile(waits, 0.5), p95: percentile(waits, 0.95), p99: percentile(waits, 0.99), mean: waits.length === 0 ? 0 : waits.reduce((a, b) => a + b, 0) / waits.length },
    peak_workers: record.peakWorkers,
    simulated_hours: record.endedAt / hourMs,
    run_seconds: record.runMs / 1000,
    hours,
  };
}

/** The nearest-rank percentile (0 of nothing). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}
