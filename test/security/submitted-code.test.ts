import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import { Sandbox } from '../helpers/cli.ts';
import { parentProbe } from '../helpers/parent-probe.ts';
import { processesUnder, waitFor } from '../helpers/processes.ts';
import { startServer } from '../helpers/server-process.ts';

/**
 * What a hostile pipeline takes when it runs on a server's local workers: a copy of the
 * state directory, and the environment, command line and working directory of every
 * process on the machine, as far as its user may read them. The test looks through the
 * loot for the secrets it must not hold.
 */
const steal = `
loot="$LOOT/$1"
mkdir -p "$loot"
id -u > "$loot/uid"
cp -r "$STATE" "$loot/state" 2>/dev/null || true
# Builtins only in the loop: a fork per process would take long on a busy machine.
for dir in /proc/[0-9]*; do
  pid=\${dir#/proc/}
  for what in environ cmdline; do
    [ -r "$dir/$what" ] || continue
    while IFS= read -r -d '' entry; do printf '%s\\n' "$entry"; done < "$dir/$what" > "$loot/$what-$pid" 2>/dev/null
  done
  [ "$pid" != "$$" ] && [ -x "$dir/cwd/" ] && cp -r "$dir/cwd/." "$loot/cwd-$pid" 2>/dev/null
done
true
`;

/** Every file under `dir`, for a look at what it holds. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe.skipIf(process.getuid?.() !== 0)('a pipeline submitted with a submit token to a server started as root', () => {
  const box = new Sandbox();
  afterAll(() => box.cleanup());

  it('runs its tasks and done_if checks as a uid of their own, and finds no token, store, log or other run\'s file to read', async () => {
    const { server, url, admin } = await startServer(box);
    const state = join(box.state, 'slipway');
    const submit = (await box.run(['tokens', 'create', 'mallory', '--scope', 'submit'])).stdout.trim();
    const secret = randomBytes(16).toString('hex');
    // The test's own channels: the loot comes back through one, the victim is let go through the other.
    const loot = join(box.dir.path, 'loot');
    const gate = join(box.dir.path, 'gate');
    for (const dir of [loot, gate]) {
      mkdirSync(dir);
      chmodSync(dir, 0o1777);
    }

    // Another user's run, holding a secret in its source, log and environment, still running.
    const victimDir = join(box.dir.path, 'victim');
    mkdirSync(victimDir);
    writeFileSync(join(victimDir, 'secret.txt'), `${secret}\n`);
    writeFileSync(join(victimDir, 'slipway.yml'), `
name: victim
activities:
  builder: {}
steps:
  hold:
    env: { SECRET: "${secret}", GATE: "${gate}" }
    run: |
      cat secret.txt
      touch "$GATE/victim-running"
      while [ ! -e "$GATE/release" ]; do sleep 0.1; done
`);
    const victim = box.spawn(['run', join(victimDir, 'slipway.yml'), '--server', url, '--json'], { SLIPWAY_TOKEN: admin });
    await waitFor(() => existsSync(join(gate, 'victim-running')), 30_000, 'the victim\'s task to run');

    const file = box.write({
      'steal.sh': steal,
      'slipway.yml': `
name: hostile
activities:
  builder: {}
steps:
  take:
    env: { STATE: "${state}", LOOT: "${loot}" }
    done_if: bash steal.sh check && false
    run: bash steal.sh task
`,
    });
    const hostile = await box.run(['run', file, '--server', url, '--json'], { SLIPWAY_TOKEN: submit });
    expect(hostile.code, hostile.stderr).toBe(0);
    expect((JSON.parse(hostile.stdout) as RunReport).run.status).toBe('succeeded');
    writeFileSync(join(gate, 'release'), '');
    expect((await victim.result).code).toBe(0);

    for (const where of ['check', 'task']) {
      const taken = join(loot, where);
      const uid = Number(readFileSync(join(taken, 'uid'), 'utf8'));
      expect(uid, where).not.toBe(0);
      expect(uid, where).not.toBe(statSync(join(state, 'admin.token')).uid);
      // It did look: it read its own process (not its agent's: see the next test), and the files a task may read.
      expect(readdirSync(taken).filter((name) => name.startsWith('environ-')).length, where).toBeGreaterThanOrEqual(1);
      for (const path of filesUnder(taken)) {
        const text = readFileSync(path, 'latin1');
        expect(text.includes(admin), `the admin token in ${path}`).toBe(false);
        expect(text.includes(secret), `the other run's secret in ${path}`).toBe(false);
        expect(text.includes('SQLite format'), `the store in ${path}`).toBe(false);
      }
    }
    // The check and the task ran on different workers, each with a uid of its own.
    expect(readFileSync(join(loot, 'check', 'uid'), 'utf8')).not.toBe(readFileSync(join(loot, 'task', 'uid'), 'utf8'));

    server.kill('SIGTERM');
    await server.result;
    await waitFor(() => processesUnder(box.dir.path).length === 0, 10_000, 'every process of the runs to end');
  });

  it('cannot read its own agent\'s memory, environment or descriptors, though it runs as the agent\'s uid', async () => {
    const { server, url, admin } = await startServer(box);
    const out = box.sharedDir('agent-probe');
    const file = box.write({
      'probe.sh': parentProbe,
      'slipway.yml': `
name: probe-agent
activities:
  builder: {}
steps:
  probe:
    env: { OUT: "${out}" }
    run: |
      agent=$PPID
      # Started by the agent's spawner, which is the agent's child.
      spawner=$agent
      agent=$(awk '/^PPid:/ { print $2 }' /proc/$spawner/status)
      stat -c '%u' /proc/$agent/environ > "$OUT/agent-uid"
      stat -c '%u' /proc/$spawner/environ > "$OUT/spawner-uid"
      id -u > "$OUT/task-uid"
      bash probe.sh > "$OUT/probe" || { code=$?; echo "probe exit $code"; cat "$OUT/probe"; } >> "$OUT/taken"
      for pid in $agent $spawner; do
        if (echo forged > /proc/$pid/fd/2) 2> /dev/null; then echo "fd of $pid written" >> "$OUT/taken"; fi
      done
      touch "$OUT/done"
`,
    });
    const run = await box.run(['run', file, '--server', url, '--json'], { SLIPWAY_TOKEN: admin });
    expect(run.code, run.stderr).toBe(0);
    expect(existsSync(join(out, 'done'))).toBe(true);
    // It did probe its agent and the spawner that started it, which run as its uid...
    expect(readFileSync(join(out, 'probe'), 'utf8')).toMatch(/^looked at: slipway-agent .*\nspawner: \d+$/m);
    const taskUid = readFileSync(join(out, 'task-uid'), 'utf8').trim();
    expect(taskUid).not.toBe('0');
    // ...and took nothing: the agent's /proc files are root's, as a process that changed its uid is not dumpable.
    expect(existsSync(join(out, 'taken')) ? readFileSync(join(out, 'taken'), 'utf8') : '').toBe('');
    expect(readFileSync(join(out, 'agent-uid'), 'utf8').trim()).toBe('0');
    expect(readFileSync(join(out, 'spawner-uid'), 'utf8').trim()).toBe('0');
    server.kill('SIGTERM');
    await server.result;
  });

  it('keeps each task in a cgroup the server handed to its worker, and ends what a task hid in it when the worker stops', async () => {
    const { server, url, admin } = await startServer(box);
    const out = box.sharedDir('cgroups');
    const file = box.write({
      'slipway.yml': `
name: hidden
activities:
  builder: {}
steps:
  hide:
    env: { OUT: "${out}" }
    run: |
      cat /proc/self/cgroup > "$OUT/task-cgroup"
      # Out of its script's cgroup, into one its uid owns: the worker's own.
      mount=$(grep ' - cgroup2 ' /proc/self/mountinfo | head -n 1 | cut -d ' ' -f 5)
      own=$(sed -n 's/^0:://p' /proc/self/cgroup)
      (echo $BASHPID > "$mount\${own%/slipway-agent-*}/cgroup.procs"; sed -n 's/^0:://p' /proc/self/cgroup > "$OUT/hidden-cgroup"; exec sleep 1000) &
      echo $! > "$OUT/hidden-pid"
      while [ ! -s "$OUT/hidden-cgroup" ]; do sleep 0.05; done
`,
    });
    const run = await box.run(['run', file, '--server', url, '--json'], { SLIPWAY_TOKEN: admin });
    expect(run.code, run.stderr).toBe(0);
    const cgroup = /^0::(.*)$/m.exec(readFileSync(join(out, 'task-cgroup'), 'utf8'))?.[1] ?? '';
    expect(cgroup).toMatch(/\/slipway-worker-w-[0-9a-f]+\/slipway-agent-\d+\/script-\d+$/);
    const worker = /slipway-worker-w-[0-9a-f]+/.exec(cgroup)![0];
    const hidden = Number(readFileSync(join(out, 'hidden-pid'), 'utf8'));
    expect(readFileSync(join(out, 'hidden-cgroup'), 'utf8').trim()).toBe(cgroup.slice(0, cgroup.indexOf('/slipway-agent-')));

    server.kill('SIGTERM');
    await server.result;
    await waitFor(() => !existsSync(`/proc/${hidden}`), 10_000, 'the hidden process to end');
    const mount = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((line) => line.includes(' - cgroup2 '))!.split(' ')[4]!;
    const home = /^0::(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))![1]!;
    await waitFor(() => !existsSync(join(mount, home, worker)), 10_000, 'the worker\'s cgroup to be removed');
  });
});
