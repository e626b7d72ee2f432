/**
 * An agent whose coordinator went away retries for its reconnect window (minutes), so a
 * coordinator that restarts finds it again. Told to stop meanwhile (SIGTERM), it must not
 * wait out that window: it stops whatever it was waiting on (its registration, a claim, a
 * heartbeat), runs its cleanup and exits. Each wait below is far shorter than the window.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isAlive } from '../../src/agent/process-tree.ts';
import type { RunReport } from '../../src/engine/report.ts';
import { repoRoot, Sandbox } from '../helpers/cli.ts';
import { processesUnder, waitFor } from '../helpers/processes.ts';
import { ownCgroupDir } from '../../src/agent/task-cgroups.ts';
import { removeCgroupsLeft } from '../helpers/cgroups.ts';
import { agentPids, freePort, startServer } from '../helpers/server-process.ts';
import { tempDir } from '../helpers/temp.ts';

const unreachable = 'the coordinator is not reachable';
/** Well within any reconnect window here; an agent still retrying fails the wait. */
const exitWithinMs = 15_000;

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** Kills by pid whatever a test left running under `dir`, then removes it. */
function leaveNothing(dir: string, remove: () => void): void {
  for (const { pid } of processesUnder(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  remove();
}

describe('an agent told to stop while its coordinator is away', () => {
  it('stops its registration at once: it has nothing to clean up nor anyone to tell', async () => {
    const work = tempDir('slipway-agent-stop-');
    cleanups.push(() => leaveNothing(work.path, work.remove));
    // Nothing listens there: the agent retries its registration.
    const server = `http://127.0.0.1:${await freePort()}`;
    const agent = spawn(process.execPath, [join(repoRoot, 'src/agent/main.ts')], {
      env: { PATH: process.env.PATH, SLIPWAY_SERVER: server, SLIPWAY_WORK_DIR: work.path, SLIPWAY_RECONNECT_MS: String(5 * 60_000) },
      stdio: ['pipe', 'ignore', 'pipe'], cwd: work.path,
    });
    agent.stdin!.end('registration-token\n');
    let stderr = '';
    agent.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    let exitCode: number | null | undefined;
    agent.on('exit', (code) => { exitCode = code; });

    await waitFor(() => stderr.includes(unreachable), 10_000, 'the agent to say it retries its registration');
    agent.kill('SIGTERM');
    await waitFor(() => exitCode !== undefined, exitWithinMs, `the agent to exit when told to stop (stderr: ${stderr})`);
    expect(exitCode, stderr).toBe(0);
    expect(stderr).toContain('stopped: asked to stop before it could register');
    // Where it had a cgroup subtree for its scripts (cgroup v2, root), it took it away.
    const home = ownCgroupDir();
    if (typeof home === 'string') expect(existsSync(join(home, `slipway-agent-${agent.pid}`))).toBe(false);
  }, 30_000);

  it('stops its claim or its task, runs its cleanup and exits, without waiting to report to nobody', async () => {
    const box = new Sandbox();
    cleanups.push(() => leaveNothing(box.dir.path, () => box.cleanup()));
    const out = box.sharedDir('out');
    // One worker waits for its next attempt (the step after `long`), the other runs `long`.
    const file = box.write({
      'slipway.yml': `
name: stop-unreachable
activities:
  idler: { idle_timeout: 5m, cleanup: 'touch ${out}/idler-cleaned' }
  busy: { cleanup: 'touch ${out}/busy-cleaned' }
steps:
  quick: { activity: idler, run: 'true' }
  long: { activity: busy, run: 'touch ${out}/long-started; sleep 600' }
  after: { activity: idler, needs: [long], run: 'true' }
`,
    });
    const { server, url, admin } = await startServer(box);
    box.spawn(['run', file, '--server', url, '--json'], { SLIPWAY_TOKEN: admin });
    const workRoot = join(box.state, 'slipway', 'workers');
    await waitFor(async () => existsSync(join(out, 'long-started')) && (await taskStatus(url, admin, 'quick')) === 'succeeded', 20_000, 'one worker to run `long` and the other to wait for work');
    const agents = agentPids(workRoot);
    expect(agents).toHaveLength(2);
    // The server is killed below: the cgroups it made for its workers (as root) are left for the next server to sweep.
    const workerCgroups = readdirSync(workRoot).filter((name) => name.startsWith('w-')).map((id) => `slipway-worker-${id}`);
    cleanups.push(() => removeCgroupsLeft(workerCgroups));
    // The agent's stderr is its log file: what it says can be read while it runs.
    const logs = agents.map((pid) => readlinkSync(`/proc/${pid}/fd/2`));
    const said = (): string[] => logs.map((log) => readFileSync(log, 'utf8'));

    // Killed, the coordinator leaves its agents behind, retrying (for 10 minutes by default).
    server.kill('SIGKILL');
    await server.result;
    await waitFor(() => said().every((text) => text.includes(unreachable)), 10_000, 'both agents to say they retry');
    for (const pid of agents) process.kill(pid, 'SIGTERM');
    await waitFor(() => agents.every((pid) => !isAlive(pid)), exitWithinMs, `both agents to exit when told to stop (logs: ${said().join('\n---\n')})`);

    expect(existsSync(join(out, 'idler-cleaned')), said().join('\n---\n')).toBe(true);
    expect(existsSync(join(out, 'busy-cleaned')), said().join('\n---\n')).toBe(true);
    for (const text of said()) {
      expect(text).toContain(' stopped: asked to stop');
      expect(text).not.toMatch(/could not be reached for \d+s/);
    }
  }, 30_000);
});

async function taskStatus(url: string, admin: string, task: string): Promise<string | undefined> {
  const headers = { authorization: `Bearer ${admin}` };
  const { runs } = await (await fetch(`${url}/api/v1/runs`, { headers })).json() as { runs: { id: string }[] };
  if (!runs[0]) return undefined;
  const report = await (await fetch(`${url}/api/v1/runs/${runs[0].id}`, { headers })).json() as RunReport;
  return report.tasks.find((t) => t.id === task)?.status;
}
