/**
 * graphile-worker on the same PostgreSQL as Slipway's dispatch bench, with its defaults and
 * `concurrency` equal to Slipway's warm workers: the same count of no-op jobs for
 * throughput (first start to last end), and a chain of jobs, each added by the one before,
 * for add-to-start latency (graphile-worker wakes by LISTEN/NOTIFY, as Slipway does).
 * Where its time goes: its process's CPU per job, and the database's when `databaseCpuMs`
 * can tell it.
 */
import { Logger, makeWorkerUtils, run, type Runner } from 'graphile-worker';

export interface GraphileFigures {
  system: 'graphile-worker';
  tasks_per_second: number;
  latency_ms: { p50: number; p99: number };
  cpu_ms_per_job: { node: number; postgres: number | null };
}

// Its default logger prints a line per job: that would be measured too.
const silent = { logger: new Logger(() => () => undefined) };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function throughput(connectionString: string, concurrency: number, jobs: number, databaseCpuMs?: () => number) {
  const utils = await makeWorkerUtils({ connectionString, ...silent });
  await utils.migrate();
  await utils.addJobs(Array.from({ length: jobs }, () => ({ identifier: 'noop', payload: {} })));
  await utils.release();
  let first = 0;
  let last = 0;
  let done = 0;
  // From the first job's start to the last one's end, as the jobs per second.
  let cpuAtFirst: NodeJS.CpuUsage | undefined;
  let databaseCpuAtFirst: number | undefined;
  let cpu: NodeJS.CpuUsage | undefined;
  let databaseCpu: number | undefined;
  let runner: Runner | undefined;
  const finished = new Promise<void>((resolve) => {
    void run({
      connectionString, concurrency, noHandleSignals: true, ...silent,
      taskList: {
        noop: async () => {
          if (!first) {
            first = performance.now();
            cpuAtFirst = process.cpuUsage();
            databaseCpuAtFirst = databaseCpuMs?.();
          }
          last = performance.now();
          if (++done === jobs) {
            cpu = process.cpuUsage(cpuAtFirst);
            databaseCpu = databaseCpuAtFirst === undefined ? undefined : databaseCpuMs!() - databaseCpuAtFirst;
            resolve();
          }
        },
      },
    }).then((started) => { runner = started; });
  });
  await finished;
  await runner?.stop();
  return {
    tasksPerSecond: Math.round(jobs / ((last - first) / 1000)),
    cpuMsPerJob: { node: (cpu!.user + cpu!.system) / 1000 / jobs, postgres: databaseCpu === undefined ? null : databaseCpu / jobs },
  };
}

async function latency(connectionString: string, concurrency: number, length: number): Promise<number[]> {
  const waits: number[] = [];
  let addedAt = 0;
  const finished = Promise.withResolvers<void>();
  const runner = await run({
    connectionString, concurrency, noHandleSignals: true, ...silent,
    taskList: {
      link: async (payload, helpers) => {
        waits.push(performance.now() - addedAt);
        const n = (payload as { n: number }).n;
        if (n + 1 === length) {
          finished.resolve();
          return;
        }
        addedAt = performance.now();
        await helpers.addJob('link', { n: n + 1 });
      },
    },
  });
  addedAt = performance.now();
  await runner.addJob('link', { n: 0 });
  await finished.promise;
  await runner.stop();
  return waits.sort((a, b) => a - b);
}

export async function graphileFigures(connectionString: string, concurrency: number, jobs: number, chain: number, databaseCpuMs?: () => number): Promise<GraphileFigures> {
  const { tasksPerSecond, cpuMsPerJob } = await throughput(connectionString, concurrency, jobs, databaseCpuMs);
  const waits = await latency(connectionString, concurrency, chain);
  const round = (n: number) => Number(n.toFixed(3));
  return {
    system: 'graphile-worker', tasks_per_second: tasksPerSecond, latency_ms: { p50: round(percentile(waits, 50)), p99: round(percentile(waits, 99)) },
    cpu_ms_per_job: { node: round(cpuMsPerJob.node), postgres: cpuMsPerJob.postgres === null ? null : round(cpuMsPerJob.postgres) },
  };
}
