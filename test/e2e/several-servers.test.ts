import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import { Sandbox } from '../helpers/cli.ts';
import { freshSchema, startPostgresCluster, type PostgresCluster } from '../helpers/postgres.ts';
import { killProcessesUnder, processesUnder, waitFor } from '../helpers/processes.ts';
import { agentPids, startServer } from '../helpers/server-process.ts';

/**
 * Three `slipway server` processes on one PostgreSQL database, as behind a load balancer:
 * followers on different ones, two of them killed mid-run. The store is each run's only
 * memory, so the survivor finishes what the dead ones started.
 */
let cluster: PostgresCluster;
const boxes: Sandbox[] = [];

beforeAll(async () => {
  cluster = await startPostgresCluster();
});

afterEach(() => {
  for (const box of boxes.splice(0)) {
    killProcessesUnder(box.dir.path);
    box.cleanup();
  }
});

afterAll(async () => {
  await cluster.stop();
});

function pipeline(activity: string): string {
  return `
name: ${activity}
matrix:
  n: ["1", "2", "3", "4"]
activities:
  ${activity}: { max_workers: 2, idle_timeout: 20s }
steps:
  work:
    over: [n]
    retry: { attempts: 4, delay: 1s }
    run: |
      sleep 2
      echo "work $N attempt $SLIPWAY_ATTEMPT"
  sum:
    needs: [work]
    run: echo summed
`;
}

async function api<T>(url: string, admin: string, path: string): Promise<T> {
  const response = await fetch(`${url}/api/v1${path}`, { headers: { authorization: `Bearer ${admin}` } });
  return await response.json() as T;
}

/** What the store holds of the runs, for a failure to explain itself. */
async function storeState(observer: pg.Client): Promise<string> {
  const tables = {
    runs: 'select id, status from runs',
    tasks: 'select run_id, key, status, attempts, active_attempt, not_before, pool from tasks order by run_id, seq',
    attempts: 'select run_id, task_key, worker_id, outcome, error, started_at, finished_at, heartbeat_at from attempts order by started_at',
    workers: 'select id, name, state, owner, pool_id, stop_cause, error, last_seen_at, stopped_at from workers order by created_at',
    coordinators: 'select * from coordinators',
  };
  const parts: string[] = [];
  for (const [name, sql] of Object.entries(tables)) {
    const rows = await observer.query(sql).then((result) => result.rows, (error: Error) => [error.message]);
    parts.push(`${name}:\n${rows.map((row) => JSON.stringify(row)).join('\n')}`);
  }
  return parts.join('\n');
}

describe('three servers on one PostgreSQL database', () => {
  it('finish every run when one is SIGKILLed mid-run and another later: no task succeeds twice, nothing is left running', async () => {
    const box = new Sandbox();
    boxes.push(box);
    const store = await freshSchema(cluster.url('postgres'));
    const env = { SLIPWAY_DATABASE_URL: store.url };
    const flags = ['--health-interval', '1s', '--heartbeat-timeout', '4s'];
    // One after the other: the first makes the admin token the others read.
    const servers = [await startServer(box, 0, flags, env), await startServer(box, 0, flags, env), await startServer(box, 0, flags, env)];
    expect(new Set(servers.map((server) => server.admin)).size).toBe(1);
    const token = { SLIPWAY_TOKEN: servers[0]!.admin };
    // Two pipelines with pools of their own, followed through different servers.
    const followers = ['left', 'right'].map((name, i) => {
      box.write({ [`${name}/slipway.yml`]: pipeline(name) });
      const file = join(box.source, name, 'slipway.yml');
      const follower = box.spawn(['run', file, '--server', servers[i]!.url, '--json'], token);
      let stderr = '';
      follower.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
      return { server: servers[i]!, process: follower, stderr: () => stderr };
    });
    const workRoot = join(box.state, 'slipway', 'workers');
    const observer = new pg.Client({ connectionString: store.url });
    await observer.connect();
    try {
      /** Pids of the servers whose workers have an attempt in hand, busiest first. */
      const busyServers = async () => (await observer.query<{ pid: number }>(`select c.pid from attempts a join workers w on w.id = a.worker_id
        join coordinators c on c.id = w.owner where a.finished_at is null group by c.pid order by count(*) desc`)).rows.map((row) => row.pid);
      const alive = new Set(servers);
      const kill = async (pid: number) => {
        const server = [...alive].find((s) => s.server.pid === pid)!;
        server.server.kill('SIGKILL');
        await server.server.result;
        alive.delete(server);
      };
      await waitFor(async () => (await busyServers()).length > 0 && agentPids(workRoot).length >= 2, 60_000, 'tasks running');
      await kill((await busyServers())[0]!);
      // Later, once a survivor has found an attempt lost with it (and retries it), the busiest survivor goes too.
      const lost = async () => (await observer.query(`select 1 from attempts where outcome = 'lost'`)).rowCount! > 0;
      await waitFor(lost, 60_000, 'an attempt of the killed server to be found lost');
      const busy = (await busyServers()).filter((pid) => [...alive].some((s) => s.server.pid === pid));
      await kill(busy[0] ?? [...alive][0]!.server.pid!);

      const survivor = [...alive][0]!;
      await waitFor(async () => (await observer.query(`select 1 from runs where status = 'running'`)).rowCount === 0, 120_000, 'both runs to end')
        .catch(async (error: Error) => { throw new Error(`${error.message}\n${await storeState(observer)}\n${survivor.output()}`); });
      const { runs } = await api<{ runs: { id: string }[] }>(survivor.url, survivor.admin, '/runs');
      expect(runs).toHaveLength(2);
      for (const { id } of runs) {
        const report = await api<RunReport>(survivor.url, survivor.admin, `/runs/${id}`);
        expect(report.run.status, id).toBe('succeeded');
        for (const task of report.tasks) {
          expect(task.attempts.filter((attempt) => attempt.outcome === 'succeeded'), `${id} ${task.id}`).toHaveLength(1);
          expect(task.attempts.every((attempt) => attempt.outcome === 'succeeded' || attempt.outcome === 'lost'), `${id} ${task.id}`).toBe(true);
        }
        // Every log is in the store, served by the survivor whichever server heard the output.
        for (const task of report.tasks.filter((t) => t.step === 'work')) {
          const attempt = task.attempts.find((a) => a.outcome === 'succeeded')!;
          const log = await fetch(`${survivor.url}/api/v1/attempts/${attempt.id}/log`, { headers: { authorization: `Bearer ${survivor.admin}` } });
          expect(await log.text(), `${id} ${task.id}`).toContain(`work ${task.matrix.n} attempt ${attempt.number}`);
        }
        expect(existsSync(join(box.state, 'slipway', 'logs', id, 'attempts'))).toBe(false);
      }
      for (const follower of followers) {
        if (alive.has(follower.server)) {
          const result = await follower.process.result;
          expect(result.code, result.stderr).toBe(0);
        } else {
          // A follower of a killed server hears it go, and waits for it to come back.
          await waitFor(() => follower.stderr().includes(`lost ${follower.server.url}`), 30_000, 'the follower to hear its server go');
          follower.process.kill('SIGKILL');
          await follower.process.result;
        }
      }
      survivor.server.kill('SIGTERM');
      await survivor.server.result;
      await waitFor(() => processesUnder(box.dir.path).length === 0, 30_000, 'every process of the runs to end');
    } finally {
      await observer.end();
      await store.drop();
    }
  }, 240_000);

  it('serve a run\'s source from the database: a server on a state directory of its own runs what another received', async () => {
    // Two hosts' worth: each server has a state directory of its own, and only the first receives the run.
    const [first, second] = [new Sandbox(), new Sandbox()];
    boxes.push(first, second);
    const store = await freshSchema(cluster.url('postgres'));
    const env = { SLIPWAY_DATABASE_URL: store.url };
    const flags = ['--health-interval', '1s', '--heartbeat-timeout', '4s'];
    const receiver = await startServer(first, 0, flags, env);
    const other = await startServer(second, 0, flags, env);
    first.write({
      'slipway.yml': `
name: apart
activities:
  apart: { max_workers: 1, idle_timeout: 20s }
steps:
  read:
    retry: { attempts: 3, delay: 1s }
    run: |
      sleep 2
      cat data.txt
`,
      'data.txt': 'a file of the first host\'s source tree\n',
    });
    // Its follower goes with the first server; the sandbox's cleanup stops it.
    first.spawn(['run', join(first.source, 'slipway.yml'), '--server', receiver.url, '--json'], { SLIPWAY_TOKEN: receiver.admin });
    const observer = new pg.Client({ connectionString: store.url });
    await observer.connect();
    try {
      // The first server's worker has the task in hand (its source came from that server's own copy): the server dies.
      await waitFor(async () => (await observer.query('select 1 from attempts where finished_at is null')).rowCount! > 0, 60_000, 'a worker of the first server to take the task');
      receiver.server.kill('SIGKILL');
      await receiver.server.result;
      await waitFor(async () => (await observer.query(`select 1 from runs where status = 'succeeded'`)).rowCount === 1, 120_000, 'the run to succeed on the other server')
        .catch(async (error: Error) => { throw new Error(`${error.message}\n${await storeState(observer)}\n${other.output()}`); });

      const { runs } = await api<{ runs: { id: string }[] }>(other.url, other.admin, '/runs');
      const report = await api<RunReport>(other.url, other.admin, `/runs/${runs[0]!.id}`);
      const attempt = report.tasks[0]!.attempts.find((a) => a.outcome === 'succeeded')!;
      const log = await fetch(`${other.url}/api/v1/attempts/${attempt.id}/log`, { headers: { authorization: `Bearer ${other.admin}` } });
      expect(await log.text()).toContain('a file of the first host\'s source tree');
      // The other server never received the archive: it copied it out of the database.
      const digest = (await observer.query<{ source_digest: string }>('select source_digest from runs')).rows[0]!.source_digest;
      expect(existsSync(join(second.state, 'slipway', 'blobs', 'sha256', digest.slice(0, 2), digest.slice(2)))).toBe(true);
      other.server.kill('SIGTERM');
      await other.server.result;
    } finally {
      await observer.end();
      await store.drop();
    }
  }, 240_000);
});
