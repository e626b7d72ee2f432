/**
 * What cgroups give that /proc scanning cannot: a process that drops every trace of its
 * script (new session, re-parented, environment wiped) is still the script's, and an agent
 * that died leaves nothing running for long. Runs where this process may make cgroups
 * (root on Linux with cgroup v2, as in CI); elsewhere the /proc path of run-script.test
 * is what agents use.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { isAlive } from '../../src/agent/process-tree.ts';
import { runScript } from '../../src/agent/run-script.ts';
import { openTaskCgroups } from '../../src/agent/task-cgroups.ts';
import { namedPids, Started, until } from './helpers.ts';

const started = new Started();
afterEach(() => started.killAll());

const { cgroups, note } = await openTaskCgroups();
afterAll(async () => cgroups?.close());

function ownCgroup(pid: number | 'self'): string {
  return /^0::(.*)$/m.exec(readFileSync(`/proc/${pid}/cgroup`, 'utf8'))?.[1] ?? '';
}

describe.runIf(cgroups)('task cgroups', () => {
  const subtree = cgroups!.path;

  it('says which way it tracks scripts, and moves the agent into its own cgroup', () => {
    expect(note).toBe(`each script runs in a cgroup of its own under ${subtree}`);
    expect(subtree).toMatch(new RegExp(`slipway-agent-${process.pid}$`));
    expect(ownCgroup('self')).toMatch(new RegExp(`/slipway-agent-${process.pid}/agent$`));
  });

  it('runs each script in a cgroup of its own, removed when the script is over', async () => {
    let output = '';
    const result = await runScript({
      script: { kind: 'inline', text: 'cat /proc/self/cgroup' }, cwd: tmpdir(), env: {}, timeoutMs: 10_000, cgroups,
      onOutput: (text) => (output += text),
    });
    expect(result.outcome).toBe('succeeded');
    const path = /^0::(.*)$/m.exec(output)?.[1];
    expect(path).toMatch(new RegExp(`/slipway-agent-${process.pid}/script-\\d+$`));
    expect(readdirSync(subtree).filter((name) => name.startsWith('script-'))).toEqual([]);
  });

  it('ends a process that left its session, its parent and its environment behind', async () => {
    // /proc scanning knows a process by its group, its ancestry or its environment marker:
    // this one has none of them once its parent exits.
    let output = '';
    const result = await runScript({
      script: { kind: 'inline', text: '(env -i setsid sleep 1000 & echo "vanished $!")' },
      cwd: tmpdir(), env: {}, timeoutMs: 10_000, killGraceMs: 200, cgroups,
      onOutput: (text) => {
        output += text;
        started.add(...Object.values(namedPids(output)));
      },
    });
    expect(result.outcome).toBe('succeeded');
    const { vanished } = namedPids(output);
    expect(vanished).toBeGreaterThan(0);
    expect(isAlive(vanished!)).toBe(false);
  });

  it("kills what a dead agent's scripts left running and removes its cgroups", async () => {
    // A cgroup of this test's own for the agents below: every agent sweeps the dead agents'
    // subtrees beside it, so in a shared one another suite's agents would sweep this test's.
    const home = join(dirname(subtree), `slipway-test-${process.pid}`);
    mkdirSync(home);
    // A live agent's subtree beside the dead one's, which the sweep must leave.
    const live = join(home, `slipway-agent-${process.pid}`);
    mkdirSync(live);
    // An agent killed with SIGKILL leaves its subtree: an empty `agent` cgroup, and a script
    // cgroup whose process kept running.
    const abandoned = join(home, 'slipway-agent-999999999');
    mkdirSync(join(abandoned, 'agent'), { recursive: true });
    mkdirSync(join(abandoned, 'script-1'));
    const leftover = spawn('bash', ['-c', 'echo $$ >"$1"; exec sleep 1000', 'bash', join(abandoned, 'script-1', 'cgroup.procs')], {
      stdio: 'ignore', detached: true,
    });
    started.add(leftover.pid!);
    await until(() => readFileSync(join(abandoned, 'script-1', 'cgroup.procs'), 'utf8').trim() === String(leftover.pid));

    // The next agent to start here sweeps before it sets up its own.
    const nextAgent = spawn('bash', ['-c', 'echo $$ >"$1" && exec "$2" --input-type=module -e "$3"', 'bash', join(home, 'cgroup.procs'), process.execPath, `
      import { TaskCgroups } from ${JSON.stringify(new URL('../../src/agent/task-cgroups.ts', import.meta.url).href)};
      const opened = await TaskCgroups.open();
      if (!(opened instanceof TaskCgroups)) throw new Error(opened.unavailable);
      await opened.close();
    `], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    nextAgent.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exitCode = await new Promise((resolve) => nextAgent.once('exit', resolve));
    expect(stderr).toBe('');
    expect(exitCode).toBe(0);
    await until(() => !isAlive(leftover.pid!));
    expect(existsSync(abandoned)).toBe(false);
    // A live agent's subtree was left alone; the next agent's is gone with it.
    expect(existsSync(live)).toBe(true);
    expect(existsSync(join(home, `slipway-agent-${nextAgent.pid}`))).toBe(false);
    rmdirSync(live);
    rmdirSync(home);
  });
});
