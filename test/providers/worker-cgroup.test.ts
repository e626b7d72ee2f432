/**
 * The cgroups a root server hands to its runner workers: made for the worker's uid, and
 * none left behind by servers that went away without stopping their workers.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CgroupTree } from '../../src/agent/cgroup-tree.ts';
import { ownCgroupDir } from '../../src/agent/task-cgroups.ts';
import { delegateCgroup, removeDelegatedCgroup } from '../../src/providers/worker-cgroup.ts';
import { Started, until } from '../agent/helpers.ts';

const home = ownCgroupDir();
const started = new Started();
const made: string[] = [];
afterEach(async () => {
  started.killAll();
  for (const dir of made.splice(0)) await removeDelegatedCgroup(dir);
});

describe.runIf(process.getuid?.() === 0 && typeof home === 'string')('worker cgroups', () => {
  const runner = { uid: 1543503999, gid: 1543503999 };

  it('gives the directory and the files a delegate writes to the worker\'s uid', async () => {
    const dir = (await delegateCgroup('w-0000c0de', runner))!;
    made.push(dir);
    expect(dir).toBe(join(home as string, 'slipway-worker-w-0000c0de'));
    for (const path of [dir, join(dir, 'cgroup.procs'), join(dir, 'cgroup.subtree_control')]) expect(statSync(path).uid).toBe(runner.uid);
    // What the kernel must keep to itself stays root's.
    expect(statSync(join(dir, 'cgroup.kill')).uid).toBe(0);
  });

  it('removes the empty worker cgroups that servers left behind, and no cgroup with a process in it', async () => {
    const left = join(home as string, 'slipway-worker-w-0000dead');
    const busy = join(home as string, 'slipway-worker-w-0000b0sy');
    mkdirSync(left);
    mkdirSync(busy);
    made.push(left, busy);
    const sleeper = spawn('bash', ['-c', 'echo $$ >"$1"; exec sleep 1000', 'bash', join(busy, 'cgroup.procs')], { stdio: 'ignore' });
    started.add(sleeper.pid!);
    await until(() => new CgroupTree(busy).populated());

    // Old enough to be left over, but not so short that another server's cgroup, made a
    // moment ago and about to take its agent, would look abandoned.
    const abandonedAfterMs = 1500;
    await until(() => Date.now() - statSync(left).ctimeMs > abandonedAfterMs, 5000);
    made.push((await delegateCgroup('w-0000beef', runner, { abandonedAfterMs }))!);
    await until(() => !existsSync(left));
    expect(existsSync(busy)).toBe(true);
  });
});
