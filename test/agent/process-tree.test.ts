import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { descendantsOf, isAlive, killTree, ProcessTree } from '../../src/agent/process-tree.ts';
import { namedPids, Started, until } from './helpers.ts';

const started = new Started();

afterEach(() => started.killAll());

/** Starts `script` in its own process group, as runScript does; `pids()` reads its "<name> <pid>" lines. */
function start(script: string, env: Record<string, string> = {}) {
  const child = spawn('bash', ['-c', script], {
    detached: true,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  const root = child.pid;
  if (root === undefined) throw new Error('bash did not start');
  started.add(root);
  let output = '';
  child.stdout.on('data', (bytes: Buffer) => {
    output += bytes.toString();
    started.add(...Object.values(namedPids(output)));
  });
  /** Waits until every name has printed its pid. */
  const pids = async (...names: string[]) => {
    await until(() => names.every((name) => name in namedPids(output)));
    return namedPids(output);
  };
  return { root, pids, output: () => output };
}

describe('isAlive', () => {
  it('is true for a running process and false for one that exited but was not reaped', async () => {
    expect(isAlive(process.pid)).toBe(true);
    // bash becomes `sleep 1000`, which never reaps the short sleep: a zombie.
    const { root, pids } = start('sleep 0.01 & echo "zombie $!"; exec sleep 1000');
    const { zombie } = await pids('zombie');
    await until(() => !isAlive(zombie!));
    expect(isAlive(root)).toBe(true);
  });
});

describe('descendantsOf and killTree', () => {
  it('find and kill children, grandchildren and processes that left the group', async () => {
    const { root, pids } = start(`
      sleep 1000 & echo "child $!"
      setsid sleep 1000 & echo "escaped $!"
      bash -c 'sleep 1000 & echo "grandchild $!"; wait' &
      wait`);
    const { child, escaped, grandchild } = await pids('child', 'escaped', 'grandchild');
    expect(descendantsOf(root)).toEqual(expect.arrayContaining([child, escaped, grandchild]));
    expect(descendantsOf(root)).not.toContain(root);

    killTree(root, 'SIGKILL');
    await until(() => [root, child!, escaped!, grandchild!].every((pid) => !isAlive(pid)));
  });
});

describe('ProcessTree', () => {
  it('remembers a descendant after it is re-parented out of the tree', async () => {
    const { root, pids, output } = start(`
      bash -c 'setsid sleep 1000 & echo "escaped $!"; sleep 0.3'
      echo "parent gone"
      wait`);
    const tree = new ProcessTree(root);
    const { escaped } = await pids('escaped');
    expect(tree.refresh()).toBe(true);
    await until(() => output().includes('parent gone'));
    expect(descendantsOf(root)).not.toContain(escaped);

    await tree.terminate(200);
    expect(isAlive(root)).toBe(false);
    expect(isAlive(escaped!)).toBe(false);
    expect(tree.refresh()).toBe(false);
  });

  it('finds a double-forked process it never saw by its environment marker', async () => {
    const marker = { name: 'SLIPWAY_TREE_TEST', value: `m-${process.pid}-${Date.now()}` };
    const { root, pids } = start('(setsid sleep 1000 & echo "daemon $!"); echo "main $$"; wait', {
      [marker.name]: marker.value,
    });
    const { daemon } = await pids('daemon', 'main');
    expect(descendantsOf(root)).not.toContain(daemon);

    await new ProcessTree(root, { marker }).terminate(200);
    expect(isAlive(root)).toBe(false);
    expect(isAlive(daemon!)).toBe(false);
  });
});
