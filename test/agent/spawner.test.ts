import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { isAlive } from '../../src/agent/process-tree.ts';
import { runScript, type ScriptRun } from '../../src/agent/run-script.ts';
import { ScriptStarter } from '../../src/agent/spawner.ts';
import { namedPids, Started, until } from './helpers.ts';

const started = new Started();
let dir: string;
let starter: ScriptStarter;
let said: string[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-spawner-'));
  said = [];
  ({ starter } = await ScriptStarter.open(dir, (line) => said.push(line)));
});

afterEach(async () => {
  await starter.close();
  started.killAll();
  await rm(dir, { recursive: true, force: true });
});

async function run(text: string, options: Partial<ScriptRun> = {}) {
  let output = '';
  const result = await runScript({
    script: { kind: 'inline', text }, cwd: dir, env: {}, timeoutMs: 10_000, killGraceMs: 200, launcher: starter, ...options,
    onOutput: (chunk) => {
      output += chunk;
      started.add(...Object.values(namedPids(output)));
      options.onOutput?.(chunk);
    },
  });
  return { result, output };
}

/** The pid of the spawner that starts the scripts now. */
async function spawnerPid(): Promise<number> {
  const { output } = await run('echo "$PPID"; cat /proc/$PPID/comm');
  const [pid, comm] = output.trim().split('\n');
  expect(comm).toBe('slipway-spawner');
  return Number(pid);
}

it('passes the arguments, the environment and the directory as given, and every byte of the output', async () => {
  const big = 200_000;
  const { result, output } = await run(`pwd; echo "$GREETING"; head -c ${big} /dev/zero | tr '\\0' 'x'; echo; printf 'é\\n'`, {
    env: { GREETING: 'grüße = "a b"' },
  });
  expect(result.outcome).toBe('succeeded');
  expect(output).toBe(`${dir}\ngrüße = "a b"\n${'x'.repeat(big)}\né\n`);
});

it('says why a script could not start, and goes on', async () => {
  const { result } = await run('true', { env: { PATH: join(dir, 'no-such-dir') } });
  expect(result).toMatchObject({ outcome: 'failed', exitCode: null, error: `could not start bash in ${dir}: bash: not found in PATH` });
  const refused = await run('true', { env: { BAD: 'a\0b' } });
  expect(refused.result.error).toMatch(/NUL byte/);
  const unnamed = await run('true', { env: { '': 'no name' } });
  expect(unnamed.result).toMatchObject({ outcome: 'failed', exitCode: null });
  expect(unnamed.result.error).toMatch(/^could not start bash in .*: .*environment variable name/);
  expect((await run('echo ok')).output).toBe('ok\n');
  expect(said).toEqual([]);
});

it('fails the running script when the spawner dies, and starts the next by the agent\'s own fork', async () => {
  const pid = await spawnerPid();
  let output = '';
  const running = run('echo "main $$"; sleep 1000', { onOutput: (chunk) => (output += chunk) });
  await until(() => 'main' in namedPids(output));
  process.kill(pid, 'SIGKILL');
  const { result } = await running;
  expect(result).toMatchObject({ outcome: 'failed', error: 'the script spawner ended (SIGKILL)' });
  // Whatever it left is ended all the same.
  await until(() => !isAlive(namedPids(output).main!));

  const next = await run('cat /proc/$PPID/comm');
  expect(next.result.outcome).toBe('succeeded');
  expect(next.output).not.toBe('slipway-spawner\n');
  expect(said).toEqual(["scripts are started by the agent's own fork from now on: the script spawner ended (SIGKILL)"]);
});

it('starts a new spawner after a restart (as the agent is then: one that was root hands its tasks on)', async () => {
  const first = await spawnerPid();
  await starter.restart();
  expect(isAlive(first)).toBe(false);
  const second = await spawnerPid();
  expect(second).not.toBe(first);
  expect(said).toEqual([]);
});

