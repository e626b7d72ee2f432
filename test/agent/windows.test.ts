/**
 * The agent's Windows paths, run here on Linux: the modules are loaded with process.platform
 * reading "win32", /proc reads are noted, and taskkill (which Linux lacks) is a stand-in that
 * notes its arguments and ends the pid as `taskkill /F` would. This shows which calls are
 * made, not that Windows runs them: nothing here has run on Windows.
 */
import { execFileSync, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { namedPids, Started, until } from './helpers.ts';

const noted = vi.hoisted(() => ({ taskkills: [] as { file: string; args: string[]; options: Record<string, unknown> }[], procReads: [] as string[] }));

vi.mock('node:child_process', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:child_process')>();
  const execFile = (file: string, args: string[], options: Record<string, unknown>, done: (error: Error | null) => void) => {
    noted.taskkills.push({ file, args, options });
    try {
      process.kill(Number(args[1]), 'SIGKILL');
    } catch {
      // gone already
    }
    done(null);
  };
  return { ...original, execFile };
});

vi.mock('node:fs', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:fs')>();
  const noting = <F extends (path: never, ...rest: never[]) => unknown>(read: F): F => ((path: never, ...rest: never[]) => {
    if (String(path).startsWith('/proc')) noted.procReads.push(String(path));
    return read(path, ...rest);
  }) as F;
  return { ...original, readFileSync: noting(original.readFileSync), readdirSync: noting(original.readdirSync) };
});

let tree: typeof import('../../src/agent/process-tree.ts');
let script: typeof import('../../src/agent/run-script.ts');
const started = new Started();

beforeAll(async () => {
  const platform = Object.getOwnPropertyDescriptor(process, 'platform')!;
  Object.defineProperty(process, 'platform', { ...platform, value: 'win32' });
  try {
    vi.resetModules();
    tree = await import('../../src/agent/process-tree.ts');
    script = await import('../../src/agent/run-script.ts');
  } finally {
    Object.defineProperty(process, 'platform', platform);
  }
});

afterEach(() => {
  started.killAll();
  noted.taskkills.length = 0;
  noted.procReads.length = 0;
  delete process.env.SystemRoot;
});

function sleeper(): number {
  const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
  started.add(child.pid!);
  return child.pid!;
}

describe('the process tree on win32', () => {
  it('reads no /proc: a pid is alive while signal 0 finds it, and nothing is found by marker or start time', async () => {
    expect(tree.isAlive(process.pid)).toBe(true);
    const gone = spawn('true');
    await new Promise((resolve) => gone.once('exit', resolve));
    expect(tree.isAlive(gone.pid!)).toBe(false);
    expect(tree.pidsByMarker('SLIPWAY_MACHINE', () => true)).toEqual(new Map());
    expect(tree.startTimeOf(process.pid)).toBeUndefined();
    expect(tree.descendantsOf(process.pid)).toEqual([]);
    expect(noted.procReads).toEqual([]);
  });

  it('ends a tree with taskkill /PID <pid> /T /F, no shell, at once rather than after the grace', async () => {
    const root = sleeper();
    const processes = new tree.ProcessTree(root, { marker: { name: 'SLIPWAY_SCRIPT_ID', value: 'x' } });
    expect(processes.refresh()).toBe(true);
    processes.signal('SIGCONT');
    expect(noted.taskkills).toEqual([]);
    const before = Date.now();
    await processes.terminate(60_000);
    expect(Date.now() - before).toBeLessThan(5000);
    expect(noted.taskkills).toEqual([{ file: 'taskkill', args: ['/PID', String(root), '/T', '/F'], options: { windowsHide: true } }]);
    expect(processes.refresh()).toBe(false);
    expect(noted.procReads).toEqual([]);
  });
});

describe('runScript on win32', () => {
  it('runs bash in the agent\'s process group, passes SystemRoot on, and taskkills nothing after a normal exit', async () => {
    process.env.SystemRoot = 'C:\\Windows';
    const chunks: string[] = [];
    const result = await script.runScript({
      script: { kind: 'inline', text: 'echo "group $(ps -o pgid= -p $$ | tr -d " ")"; echo "root $SystemRoot"' },
      cwd: tmpdir(), env: {}, timeoutMs: 10_000, onOutput: (chunk) => chunks.push(chunk),
    });
    expect(result.outcome).toBe('succeeded');
    const ours = execFileSync('ps', ['-o', 'pgid=', '-p', String(process.pid)], { encoding: 'utf8' }).trim();
    expect(chunks.join('')).toBe(`group ${ours}\nroot C:\\Windows\n`);
    expect(noted.taskkills).toEqual([]);
    expect(noted.procReads).toEqual([]);
  });

  it('ends a cancelled script\'s tree with taskkill by its pid', async () => {
    const abort = new AbortController();
    let output = '';
    const running = script.runScript({
      script: { kind: 'inline', text: 'echo "script $$"; sleep 1000' },
      cwd: tmpdir(), env: {}, timeoutMs: 10_000, signal: abort.signal,
      onOutput: (chunk) => {
        output += chunk;
        started.add(...Object.values(namedPids(output)));
      },
    });
    await until(() => 'script' in namedPids(output));
    abort.abort();
    const result = await running;
    expect(result.outcome).toBe('cancelled');
    expect(noted.taskkills.map((call) => call.args)).toEqual([['/PID', String(namedPids(output).script), '/T', '/F']]);
  });
});
