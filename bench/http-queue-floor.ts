/**
 * The floor under any queue whose workers are other processes that take work over HTTP, as
 * Slipway's agents do: on the same PostgreSQL, with Slipway's HTTP server and the agents'
 * kept-alive connection, as many clients as Slipway's warm workers each report a job done
 * and take the next in one request; requests that arrive while a write is in flight share
 * the next one (group commit, as Slipway's coordinator does). Nothing else: no credential,
 * no attempt or worker rows, no log, no run to end, events in no order. `statement` writes
 * a batch in one statement (it ends the reported jobs, takes as many, and writes an event of
 * each); `transaction` as Slipway's store must, in a transaction: begin, then those
 * three writes one after the other, then commit.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import pg from 'pg';
import { listen } from '../src/api/http-server.ts';
import { treeCpuMs } from './process-cpu.ts';

export type FloorShape = 'statement' | 'transaction';

export interface FloorFigures {
  tasks_per_second: number;
  cpu_ms_per_task: { server: number; clients: number; postgres: number | null };
}

/** What the clients process prints: from its first job's arrival to its last report's answer (machineMs). */
export interface ClientsReport { first: number; last: number; jobs: number; cpu_ms: number }

const endJobs = 'delete from floor_jobs where id = any($1::int[])';
const nextJobs = (limit: string) => `select id from floor_jobs where not taken order by id limit ${limit} for update skip locked`;
const takeJobs = `update floor_jobs set taken = true from next where floor_jobs.id = next.id returning floor_jobs.id`;
const eventRows = `select unnest($1::int[]), 'done' union all select id, 'started' from taken`;

const oneStatement = `with ended as (${endJobs}), next as (${nextJobs('$2')}), taken as (${takeJobs}),
  events as (insert into floor_events (job, kind) ${eventRows}) select id from taken`;

/** Writes one batch: `ended` jobs done, and as many jobs taken as `wanted`; answers the taken ones' ids. */
async function writeBatch(pool: pg.Pool, shape: FloorShape, ended: number[], wanted: number): Promise<number[]> {
  if (shape === 'statement') return (await pool.query<{ id: number }>({ name: 'floor_batch', text: oneStatement, values: [ended, wanted] })).rows.map((r) => r.id);
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query({ name: 'floor_end', text: endJobs, values: [ended] });
    const taken = (await client.query<{ id: number }>({ name: 'floor_take', text: `with next as (${nextJobs('$1')}) ${takeJobs}`, values: [wanted] })).rows.map((r) => r.id);
    await client.query({ name: 'floor_events', text: `with taken as (select unnest($2::int[]) as id) insert into floor_events (job, kind) ${eventRows}`, values: [ended, taken] });
    await client.query('commit');
    return taken;
  } catch (error) {
    await client.query('rollback');
    throw error;
  } finally {
    client.release();
  }
}

/** A server of `jobs` jobs on the database of `url` (a schema of its own), run dry by `clients` clients in a process of their own. */
export async function httpQueueFloor(url: string, shape: FloorShape, clients: number, jobs: number, databaseCpuMs?: () => number): Promise<FloorFigures> {
  const pool = new pg.Pool({ connectionString: url, max: clients });
  await pool.query('create table floor_jobs (id serial primary key, taken boolean not null default false)');
  await pool.query('create table floor_events (id bigserial primary key, job integer not null, kind text not null)');
  await pool.query('insert into floor_jobs (taken) select false from generate_series(1, $1)', [jobs]);
  let waiting: { ended: number | null; answer: (id: number | null) => void; fail: (error: unknown) => void }[] = [];
  let writing = false;
  const drain = async () => {
    while (waiting.length > 0) {
      const batch = waiting;
      waiting = [];
      try {
        const taken = await writeBatch(pool, shape, batch.flatMap((w) => (w.ended === null ? [] : [w.ended])), batch.length);
        batch.forEach((w, i) => w.answer(taken[i] ?? null));
      } catch (error) {
        for (const w of batch) w.fail(error);
      }
    }
    writing = false;
  };
  const app = new Hono().post('/next', async (c) => {
    const { ended } = await c.req.json<{ ended: number | null }>();
    const id = await new Promise<number | null>((answer, fail) => {
      waiting.push({ ended, answer, fail });
      if (writing) return;
      writing = true;
      setImmediate(() => void drain());
    });
    return c.json({ id });
  });
  const server = await listen(app, '127.0.0.1', 0);
  try {
    const cpuBefore = process.cpuUsage();
    const databaseCpuBefore = databaseCpuMs?.();
    const child = spawn(process.execPath, [fileURLToPath(new URL('./http-queue-clients.ts', import.meta.url)), server.url, String(clients)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    const cpu = process.cpuUsage(cpuBefore);
    const databaseCpu = databaseCpuBefore === undefined ? undefined : databaseCpuMs!() - databaseCpuBefore;
    if (code !== 0) throw new Error(`the floor's clients exited ${code}`);
    const report = JSON.parse(output) as ClientsReport;
    if (report.jobs !== jobs) throw new Error(`the floor's clients took ${report.jobs} of ${jobs} jobs`);
    const round = (n: number) => Number(n.toFixed(3));
    return {
      tasks_per_second: Math.round(jobs / ((report.last - report.first) / 1000)),
      cpu_ms_per_task: { server: round((cpu.user + cpu.system) / 1000 / jobs), clients: round(report.cpu_ms / jobs), postgres: databaseCpu === undefined ? null : round(databaseCpu / jobs) },
    };
  } finally {
    await server.close();
    await pool.end();
  }
}
