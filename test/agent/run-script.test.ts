import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isAlive } from '../../src/agent/process-tree.ts';
import { runScript, type ScriptRun } from '../../src/agent/run-script.ts';
import { ScriptStarter } from '../../src/agent/spawner.ts';
import { TaskCgroups } from '../../src/agent/task-cgroups.ts';
import { namedPids, Started, until } from './helpers.ts';

const started = new Started();
const dirs: string[] = [];

afterEach(async () => {
  started.killAll();
  delete process.env.SLIPWAY_SECRET_TEST;
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-run-script-'));
  dirs.push(dir);
  return dir;
}

/**
 * Both ways of finding a script's processes: the cgroup the agent makes for each script
 * (where cgroups can be used: this test process then moves into its own cgroup, as an
 * agent does) and the /proc scan every other agent falls back to.
 */
const opened = await TaskCgroups.open();
const cgroups = opened instanceof TaskCgroups ? opened : undefined;
/**
 * And both ways of starting them: through the agent's spawner (a Python process; the test
 * set-up installs python3) and by the agent's own fork, where Python cannot run.
 */
const spawnerDir = await mkdtemp(join(tmpdir(), 'slipway-run-script-spawner-'));
const { starter, note: starting } = await ScriptStarter.open(spawnerDir, (line) => {
  throw new Error(`the spawner was given up: ${line}`);
});
afterAll(async () => {
  await starter.close();
  await cgroups?.close();
  await rm(spawnerDir, { recursive: true, force: true });
});
const paths = [
  { path: 'cgroups', cgroups },
  { path: '/proc', cgroups: undefined },
].filter((mode) => mode.path === '/proc' || mode.cgroups).flatMap((mode) => [
  { ...mode, starts: 'the spawner', launcher: starter },
  { ...mode, starts: "the agent's fork", launcher: undefined },
]);

it('starts scripts through the spawner where Python 3 can run', async () => {
  expect(starting).toMatch(/^scripts are started by a spawner process \(python3, pid \d+\)$/);
  const { result, output } = await run('cat /proc/$PPID/comm', { launcher: starter });
  expect(result.outcome).toBe('succeeded');
  expect(output).toBe('slipway-spawner\n');
});

it('uses cgroups where the machine allows them (as root on Linux with cgroup v2)', () => {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return;
  expect(opened).toBeInstanceOf(TaskCgroups);
});

/**
 * Runs an inline script with short timeouts; collects its output and the "<name> <pid>"
 * lines it prints (registered for cleanup as soon as they appear).
 */
async function run(text: string, options: Partial<ScriptRun> = {}) {
  const chunks: string[] = [];
  const result = await runScript({
    script: { kind: 'inline', text },
    cwd: tmpdir(),
    env: {},
    timeoutMs: 10_000,
    killGraceMs: 200,
    cgroups: current,
    launcher: currentLauncher,
    ...options,
    onOutput: (chunk) => {
      chunks.push(chunk);
      started.add(...Object.values(namedPids(chunks.join(''))));
      options.onOutput?.(chunk);
    },
  });
  const output = chunks.join('');
  return { result, output, chunks, pids: namedPids(output) };
}

/**
 * Starts processes in every way a script can: in its group, escaped with setsid,
 * double-forked (re-parented at once), and a grandchild under a nested bash that stays
 * alive. Every pid is printed before the script goes on.
 */
const SPREAD = `
sleep 1000 & echo "child $!"
setsid sleep 1000 & echo "escaped $!"
(setsid sleep 1000 & echo "daemon $!")
exec 3< <(bash -c 'sleep 1000 & echo "grandchild $!"; wait')
read -r line <&3; echo "$line"
echo "main $$"
`;
const SPREAD_NAMES = ['child', 'daemon', 'escaped', 'grandchild', 'main'];

let current: TaskCgroups | undefined;
let currentLauncher: ScriptStarter | undefined;

describe.each(paths)('runScript, processes found through $path, started by $starts', ({ cgroups: mode, launcher }) => {
  beforeAll(() => {
    current = mode;
    currentLauncher = launcher;
  });

  it('succeeds and captures stdout and stderr interleaved in order', async () => {
    const { result, output } = await run('echo one; echo two >&2; echo three');
    expect(output).toBe('one\ntwo\nthree\n');
    expect(result).toMatchObject({ outcome: 'succeeded', exitCode: 0, signal: null, error: null });
  });

  it('says how long the script ran, from its start to its exit', async () => {
    const { result } = await run('sleep 0.3');
    expect(result.outcome).toBe('succeeded');
    expect(result.scriptMs).toBeGreaterThanOrEqual(300);
  });

  it('fails with the exit code', async () => {
    const { result, output } = await run('echo before; exit 3; echo after');
    expect(output).toBe('before\n');
    expect(result).toMatchObject({ outcome: 'failed', exitCode: 3, signal: null, error: 'exit code 3' });
  });

  it.each([
    ['a failing command', 'false; echo after'],
    ['a failing command in the middle of a pipe', 'echo data | false | cat; echo after'],
  ])('stops at %s (-eo pipefail)', async (_, text) => {
    const { result, output } = await run(text);
    expect(output).not.toContain('after');
    expect(result).toMatchObject({ outcome: 'failed', exitCode: 1, error: 'exit code 1' });
  });

  it('reports a script killed by a signal', async () => {
    const { result } = await run('kill -USR1 $$');
    expect(result).toMatchObject({ outcome: 'failed', exitCode: null, signal: 'SIGUSR1', error: 'killed by SIGUSR1' });
  });

  it("passes the given env over a minimal base, not the agent's own", async () => {
    process.env.SLIPWAY_SECRET_TEST = 'hunter2';
    const { result, output } = await run(
      [
        'echo "greeting=$GREETING"',
        'echo "secret=${SLIPWAY_SECRET_TEST-unset}"',
        'echo "path=${PATH:+set} home=${HOME:+set}"',
        'echo "stdin=$(readlink /proc/$$/fd/0)"',
      ].join('\n'),
      { env: { GREETING: 'hello "world" $HOME' } },
    );
    expect(result.outcome).toBe('succeeded');
    expect(output).toBe('greeting=hello "world" $HOME\nsecret=unset\npath=set home=set\nstdin=/dev/null\n');
  });

  it('runs a file script relative to the working directory', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'scripts'));
    await writeFile(join(dir, 'scripts', 'build.sh'), 'echo "pwd=$PWD"\nexit 4\n');
    const { result, output } = await run('', { script: { kind: 'file', path: 'scripts/build.sh' }, cwd: dir });
    expect(output).toBe(`pwd=${await realpath(dir)}\n`);
    expect(result).toMatchObject({ outcome: 'failed', exitCode: 4, error: 'exit code 4' });
  });

  it('fails when the file script is missing', async () => {
    const { result, output } = await run('', { script: { kind: 'file', path: 'missing.sh' }, cwd: await tempDir() });
    expect(output).toContain('missing.sh');
    expect(result.outcome).toBe('failed');
    expect(result.exitCode).toBeGreaterThan(0);
  });

  it('fails when bash cannot start', async () => {
    const { result } = await run('true', { cwd: join(tmpdir(), 'slipway-no-such-dir') });
    expect(result.outcome).toBe('failed');
    expect(result.exitCode).toBeNull();
    expect(result.error).toMatch(/^could not start bash in .*slipway-no-such-dir: /);
    expect(result.scriptMs).toBeNull();
  });

  it('times out and kills the script, its children and escaped descendants', async () => {
    const { result, pids } = await run(`${SPREAD}\nwait`, { timeoutMs: 300 });
    expect(Object.keys(pids).sort()).toEqual(SPREAD_NAMES);
    expect(result).toMatchObject({ outcome: 'timed_out', exitCode: null, signal: 'SIGTERM', error: 'timed out after 300ms' });
    expect(result.scriptMs).toBeGreaterThanOrEqual(300);
    for (const pid of Object.values(pids)) expect(isAlive(pid)).toBe(false);
  });

  it('escalates to SIGKILL after the grace period when SIGTERM is ignored', async () => {
    const { result, pids } = await run(`trap '' TERM\nsleep 1000 & echo "child $!"\necho "main $$"\nwait`, {
      timeoutMs: 300,
    });
    expect(result).toMatchObject({ outcome: 'timed_out', signal: 'SIGKILL' });
    expect(result.scriptMs).toBeGreaterThanOrEqual(500);
    expect(Object.keys(pids).sort()).toEqual(['child', 'main']);
    for (const pid of Object.values(pids)) expect(isAlive(pid)).toBe(false);
  });

  it('is cancelled by its abort signal, and the whole tree goes', async () => {
    const abort = new AbortController();
    let output = '';
    const running = run(`${SPREAD}\nwait`, { signal: abort.signal, onOutput: (chunk) => (output += chunk) });
    await until(() => 'main' in namedPids(output));
    abort.abort();
    const { result, pids } = await running;
    expect(result).toMatchObject({ outcome: 'cancelled', error: 'cancelled' });
    for (const pid of Object.values(pids)) expect(isAlive(pid)).toBe(false);
  });

  it('does not start when already aborted', async () => {
    const { result, output } = await run('echo ran', { signal: AbortSignal.abort() });
    expect(output).toBe('');
    expect(result).toMatchObject({ outcome: 'cancelled', exitCode: null, error: 'cancelled' });
  });

  it('kills background processes left behind after a normal exit', async () => {
    // They die on SIGTERM: nothing waits for the grace period, nor for the pipe they held
    // beyond its closing (either wait would outlast the test).
    const { result, pids } = await run(`${SPREAD}\necho done`, { killGraceMs: 600_000, pipeWaitMs: 600_000 });
    expect(result).toMatchObject({ outcome: 'succeeded', exitCode: 0 });
    expect(Object.keys(pids).sort()).toEqual(SPREAD_NAMES);
    for (const pid of Object.values(pids)) expect(isAlive(pid)).toBe(false);
  }, 20_000);

  it('reports a clean exit at once: no grace period, no wait for the output pipe', async () => {
    // Either wait would outlast the test.
    const { result, output } = await run('echo done', { killGraceMs: 600_000, pipeWaitMs: 600_000 });
    expect(result).toMatchObject({ outcome: 'succeeded', exitCode: 0 });
    expect(output).toBe('done\n');
  }, 20_000);

  it('decodes a multi-byte character split across reads', async () => {
    const { result, output, chunks } = await run(
      String.raw`printf '\xc3'; sleep 0.1; printf '\xa9 \xf0\x9f'; sleep 0.1; printf '\x9a\x80\n'`,
    );
    expect(result.outcome).toBe('succeeded');
    expect(chunks.length).toBeGreaterThanOrEqual(2);
    expect(output).toBe('é 🚀\n');
  });
});
