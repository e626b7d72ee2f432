import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isAlive } from '../../src/agent/process-tree.ts';
import type { RunReport } from '../../src/engine/report.ts';
import { Sandbox } from '../helpers/cli.ts';
import { killProcessesUnder, processesUnder, waitFor } from '../helpers/processes.ts';
import { agentPids, startServer } from '../helpers/server-process.ts';

/** The sandboxes of this file; whatever a test left running is killed by pid, then the files go. */
const boxes: Sandbox[] = [];
afterEach(() => {
  for (const box of boxes.splice(0)) {
    killProcessesUnder(box.dir.path);
    box.cleanup();
  }
});

function sandbox(): Sandbox {
  const box = new Sandbox();
  boxes.push(box);
  return box;
}

async function runOf(url: string, admin: string): Promise<RunReport> {
  const response = await fetch(`${url}/api/v1/runs`, { headers: { authorization: `Bearer ${admin}` } });
  const { runs } = await response.json() as { runs: { id: string }[] };
  const detail = await fetch(`${url}/api/v1/runs/${runs[0]!.id}`, { headers: { authorization: `Bearer ${admin}` } });
  return await detail.json() as RunReport;
}

describe('a coordinator killed with SIGKILL and started again', () => {
  it('resumes the run: attempts in flight carry on and report, a worker that died meanwhile is found, nothing is lost', async () => {
    const box = sandbox();
    const file = box.write({
      'slipway.yml': `
name: resume
matrix:
  n: ["1", "2", "3", "4", "5"]
activities:
  builder: { max_workers: 2, idle_timeout: 20s }
steps:
  work:
    over: [n]
    retry: { attempts: 3, delay: 1s }
    run: |
      sleep 3
      echo "attempt $SLIPWAY_ATTEMPT"
`,
    });
    const flags = ['--health-interval', '1s', '--heartbeat-timeout', '5s'];
    const first = await startServer(box, 0, flags);
    const follower = box.spawn(['run', file, '--server', first.url, '--json'], { SLIPWAY_TOKEN: first.admin });
    const workRoot = join(box.state, 'slipway', 'workers');
    await waitFor(async () => agentPids(workRoot).length === 2 && (await runOf(first.url, first.admin)).tasks.filter((t) => t.status === 'running').length === 2, 30_000, 'two tasks running');
    const runId = (await runOf(first.url, first.admin)).run.id;
    const agentLogs = join(box.state, 'slipway', 'logs', runId, 'workers');

    first.server.kill('SIGKILL');
    await first.server.result;
    const killedAt = Date.now();
    const [survivor, victim] = agentPids(workRoot) as [number, number];
    // While the coordinator is down, one machine dies too; the other goes on with its task.
    process.kill(victim, 'SIGKILL');
    // The survivor finds its coordinator gone (its heartbeat or its report fails), and keeps trying.
    await waitFor(() => readdirSync(agentLogs).filter((name) => name.endsWith('.agent.log'))
      .some((name) => readFileSync(join(agentLogs, name), 'utf8').includes('the coordinator is not reachable')), 30_000, 'the surviving agent to find its coordinator gone');
    expect(isAlive(survivor)).toBe(true);

    const second = await startServer(box, first.port, flags);
    const result = await follower.result;
    expect(result.stderr).toContain(`lost ${second.url}`);
    expect(result.stderr).toContain(`${second.url} answers again`);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as RunReport;
    expect(report.run.status).toBe('succeeded');
    expect(report.tasks.map((t) => t.status)).toEqual(Array(5).fill('succeeded'));
    for (const task of report.tasks) {
      // Exactly one attempt succeeded; any other was lost with its worker.
      expect(task.attempts.filter((a) => a.outcome === 'succeeded'), task.id).toHaveLength(1);
      expect(task.attempts.every((a) => a.outcome === 'succeeded' || a.outcome === 'lost'), task.id).toBe(true);
    }
    const spanning = report.tasks.flatMap((t) => t.attempts).filter((a) => Date.parse(a.started_at) < killedAt && Date.parse(a.finished_at!) > killedAt);
    expect(spanning.map((a) => a.outcome).sort()).toEqual(['lost', 'succeeded']);
    const lost = report.tasks.flatMap((t) => t.attempts).find((a) => a.outcome === 'lost')!;
    expect(lost.error).toMatch(/^worker lost: (its machine is gone|no heartbeat for \d+s)$/);

    second.server.kill('SIGTERM');
    await second.server.result;
    await waitFor(() => processesUnder(box.dir.path).length === 0, 10_000, 'every process of the run to end');
  });
});

describe('an agent that stops answering mid-task', () => {
  it('is found by its missing heartbeat (frozen) or its exit (killed); the attempt is retried elsewhere and its processes are stopped', async () => {
    const box = sandbox();
    const file = box.write({
      'slipway.yml': `
name: lose
matrix:
  n: ["frozen", "killed"]
activities:
  builder: { max_workers: 2, idle_timeout: 20s }
steps:
  work:
    over: [n]
    retry: { attempts: 2, delay: 1s }
    run: |
      sleep 4 &
      echo "child $!"
      wait
`,
    });
    const { server, url, admin } = await startServer(box, 0, ['--health-interval', '1s', '--heartbeat-timeout', '3s']);
    const follower = box.spawn(['run', file, '--server', url, '--json'], { SLIPWAY_TOKEN: admin });
    const workRoot = join(box.state, 'slipway', 'workers');
    await waitFor(async () => agentPids(workRoot).length === 2 && (await runOf(url, admin)).tasks.every((t) => t.status === 'running'), 30_000, 'both tasks running');
    const running = await runOf(url, admin);
    const workerOf = (n: string) => running.tasks.find((t) => t.matrix.n === n)!.attempts[0]!.worker!;
    const pidOf = (workerId: string) => agentPids(workRoot).find((pid) => readFileSync(`/proc/${pid}/environ`, 'latin1').includes(`SLIPWAY_MACHINE=${workRoot}/${workerId}\0`))!;
    const frozen = pidOf(workerOf('frozen'));
    const killed = pidOf(workerOf('killed'));
    process.kill(frozen, 'SIGSTOP');
    process.kill(killed, 'SIGKILL');
    const stoppedAt = Date.now();

    const result = await follower.result;
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as RunReport;
    const attempts = (n: string) => report.tasks.find((t) => t.matrix.n === n)!.attempts;
    expect(attempts('frozen').map((a) => a.outcome)).toEqual(['lost', 'succeeded']);
    // Its worker or, when the worker's last output came after its last heartbeat, its attempt is found silent first.
    expect(attempts('frozen')[0]!.error).toMatch(/^(worker lost: no heartbeat for [34]s|no heartbeat for attempt a-[0-9a-f]{12} for [34]s)$/);
    expect(attempts('killed').map((a) => a.outcome)).toEqual(['lost', 'succeeded']);
    // Its exit, or the health check's look at its machine, whichever comes first.
    expect(attempts('killed')[0]!.error).toMatch(/^worker lost: (agent process \d+ killed by SIGKILL|its machine is gone)/);
    for (const n of ['frozen', 'killed']) expect(attempts(n)[1]!.worker).not.toBe(attempts(n)[0]!.worker);
    // The frozen agent's machine is stopped by its provider, with the task it was running.
    await waitFor(() => !isAlive(frozen), 15_000, 'the frozen agent to be stopped');
    // Not before the timeout (3 s) from when it was last heard, which is at most one heartbeat
    // interval (a held heartbeat, 750 ms) before it froze.
    const lostAt = Date.parse(attempts('frozen')[0]!.finished_at!);
    expect(lostAt - stoppedAt).toBeGreaterThanOrEqual(3000 - 750);

    server.kill('SIGTERM');
    await server.result;
    await waitFor(() => processesUnder(box.dir.path).length === 0, 10_000, 'every process of the run to end');
  });
});

describe('a server told to stop while its agents work', () => {
  it('ends at once, without waiting for them; they carry on with their task', async () => {
    const box = sandbox();
    const file = box.write({
      'slipway.yml': `
name: outlive
activities:
  builder: {}
steps:
  work:
    run: sleep 30
`,
    });
    const { server, url, admin } = await startServer(box);
    const follower = box.spawn(['run', file, '--server', url], { SLIPWAY_TOKEN: admin });
    const workRoot = join(box.state, 'slipway', 'workers');
    await waitFor(async () => agentPids(workRoot).length === 1 && (await runOf(url, admin)).tasks[0]!.status === 'running', 30_000, 'the task running');
    const [agent] = agentPids(workRoot) as [number];

    server.kill('SIGTERM');
    const ended = await server.result;
    expect(ended.stderr).not.toContain('not stopped within');
    expect(ended.code).toBe(0);
    expect(isAlive(agent)).toBe(true);
    follower.kill('SIGKILL');
  });
});

describe('a worker past its max_lifetime', () => {
  it('is drained: the task in hand finishes, the worker stops, another takes the next task', async () => {
    const box = sandbox();
    const file = box.write({
      'slipway.yml': `
name: lifetime
matrix:
  n: ["1", "2"]
activities:
  builder: { max_workers: 1, max_lifetime: 1s }
steps:
  work:
    over: [n]
    retry: { attempts: 1 }
    run: sleep 3
`,
    });
    const result = await box.run(['run', file, '--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as RunReport;
    expect(report.tasks.map((t) => t.attempts.map((a) => a.outcome))).toEqual([['succeeded'], ['succeeded']]);
    const [first, second] = report.tasks.map((t) => t.attempts[0]!.worker);
    expect(second).not.toBe(first);
    const log = (await box.run(['logs', report.run.id, '--worker', first!])).stdout;
    expect(log).toMatch(/draining: older than its activity's max_lifetime \(1s\)[\s\S]*attempt \S+ succeeded[\s\S]*stopped: told to stop/);
    expect(processesUnder(box.dir.path)).toEqual([]);
  });
});
