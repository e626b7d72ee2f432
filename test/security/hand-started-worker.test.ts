import { chmodSync, chownSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import { Sandbox } from '../helpers/cli.ts';
import { waitFor } from '../helpers/processes.ts';
import { parentProbe } from '../helpers/parent-probe.ts';
import { loginUser } from '../helpers/sshd.ts';

/**
 * A task that reads the command line and environment of every process above it: its
 * worker (`$PPID`, the `slipway worker` process) and all that started that one.
 */
const snoop = `
pid=$PPID
while [ "$pid" -gt 1 ]; do
  echo "process $pid cmdline: $(tr '\\0' ' ' < /proc/$pid/cmdline)"
  echo "process $pid environ: $(tr '\\0' ' ' < /proc/$pid/environ)"
  pid=$(awk '/^PPid:/ { print $2 }' /proc/$pid/status)
done
`;

describe('slipway worker started by hand', () => {
  const box = new Sandbox();
  afterAll(() => box.cleanup());
  /** One activity per way of giving the token that leaves it where tasks could look, each served by its own worker. */
  const ways = ['environment', 'flag'] as const;
  const file = box.write({
    'snoop.sh': snoop,
    'slipway.yml': `name: hand
activities: { ${ways.map((way) => `${way}: {}`).join(', ')} }
steps:
${ways.map((way) => `  ${way}: { activity: ${way}, run: bash snoop.sh }`).join('\n')}
`,
  });

  it('leaves its token in no command line or environment its tasks can read, however it was given', async () => {
    const run = box.spawn(['run', file, '--no-provision', '--json']);
    let stderr = '';
    run.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    await waitFor(() => /SLIPWAY_TOKEN=\S+ slipway worker --server \S+/.test(stderr), 20_000, 'the worker command');
    const [, token, server] = stderr.match(/SLIPWAY_TOKEN=(\S+) slipway worker --server (\S+)/)!;
    const given: Record<(typeof ways)[number], { args: string[]; env?: NodeJS.ProcessEnv }> = {
      environment: { args: [], env: { SLIPWAY_TOKEN: token } },
      flag: { args: ['--token', token!] },
    };
    const workers = ways.map((way) => box.spawn(['worker', '--server', server!, '--activity', way, ...given[way].args], given[way].env));
    const result = await run.result;
    expect(result.code, result.stderr).toBe(0);
    const ran = new Map<string, string>();
    for (const [i, worker] of workers.entries()) {
      const ended = await worker.result;
      expect(ended.code, ended.stderr).toBe(0);
      ran.set(ways[i]!, ended.stderr.match(/registered as (w-[0-9a-f]{8})/)![1]!);
    }
    const report = JSON.parse(result.stdout) as RunReport;
    // The report says which worker ran each task, and that it was started by hand.
    for (const task of report.tasks) expect(task.attempts).toMatchObject([{ worker: ran.get(task.id), hand_started: true }]);
    const [logs, shown] = await Promise.all([box.run(['logs', report.run.id]).then((r) => r.stdout), box.run(['show', report.run.id]).then((r) => r.stdout)]);
    for (const way of ways) expect(shown).toMatch(new RegExp(`succeeded +${way} +1 +${ran.get(way)} \\(by hand\\)`));
    for (const way of ways) {
      const log = logs.split(/^==> /m).find((section) => section.startsWith(`${way} attempt 1 `))!;
      // The look reached the worker: its command line and the environment it was started with.
      expect(log, way).toMatch(/cmdline: (\S*node .*main\.ts worker --server|slipway-worker )/);
      expect(log, way).toContain(`XDG_STATE_HOME=${box.state}`);
      expect(log, way).not.toContain(token);
      expect(log, way).not.toContain('SLIPWAY_TOKEN=');
    }
  });

  it('reads --token-file only when no one else may read it', async () => {
    const missing = join(box.dir.path, 'missing.token');
    const readable = join(box.dir.path, 'readable.token');
    const empty = join(box.dir.path, 'empty.token');
    writeFileSync(readable, 'not read\n');
    chmodSync(readable, 0o644);
    writeFileSync(empty, '\nsecond line\n');
    chmodSync(empty, 0o600);
    const withFile = (path: string) => box.run(['worker', '--server', 'http://127.0.0.1:9', '--activity', 'builder', '--token-file', path]);
    const [refusedMissing, refusedReadable, refusedEmpty] = await Promise.all([withFile(missing), withFile(readable), withFile(empty)]);
    expect(refusedMissing.code).toBe(2);
    expect(refusedMissing.stderr).toContain(`--token-file ${missing}: no such file`);
    expect(refusedReadable.code).toBe(2);
    expect(refusedReadable.stderr).toContain(`--token-file ${readable} is open to other users (mode 644): chmod 600 ${readable}`);
    // A private file is read: its first line is the token.
    expect(refusedEmpty.code).toBe(2);
    expect(refusedEmpty.stderr).toContain(`--token-file ${empty}: its first line is empty; it should hold the token`);
  });
});

describe('slipway worker started by hand by a user other than root', () => {
  const box = new Sandbox();
  afterAll(() => box.cleanup());
  const file = box.write({
    'probe.sh': parentProbe,
    'slipway.yml': 'name: probe\nactivities: { builder: {} }\nsteps:\n  probe: { activity: builder, run: "bash probe.sh || true" }\n',
  });

  it('keeps its memory and /proc files from its tasks, which run as that same user', async () => {
    const user = loginUser();
    // The user's own state directory and work directory, in a sandbox it can only pass through.
    chmodSync(box.dir.path, 0o711);
    const home = join(box.dir.path, 'worker-home');
    mkdirSync(home, { mode: 0o700 });
    chownSync(home, user.uid, user.gid);
    const run = box.spawn(['run', file, '--no-provision', '--json']);
    let stderr = '';
    run.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    await waitFor(() => /SLIPWAY_TOKEN=\S+ slipway worker --server \S+/.test(stderr), 20_000, 'the worker command').catch((error: unknown) => { throw new Error(`${(error as Error).message}: ${stderr}`); });
    const [, token, server] = stderr.match(/SLIPWAY_TOKEN=(\S+) slipway worker --server (\S+)/)!;
    const worker = box.spawn(['worker', '--server', server!, '--activity', 'builder', '--work-dir', join(home, 'work')],
      { SLIPWAY_TOKEN: token, HOME: home, XDG_STATE_HOME: join(home, 'state') }, home, user);
    const [result, ended] = await Promise.all([run.result, worker.result]);
    expect(ended.code, ended.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as RunReport;
    const log = (await box.run(['logs', report.run.id])).stdout;
    // The task looked at its worker, and took nothing from it.
    expect(log).toMatch(/looked at: slipway-worker \S+/);
    expect(log).not.toContain('taken:');
    expect(result.code, result.stderr).toBe(0);
    // The worker ran from its copy of node, which its user may execute but not read.
    const runtime = join(home, 'state', 'slipway', 'runtime');
    const copies = readdirSync(runtime);
    expect(copies).toEqual([expect.stringMatching(/^node-\d+-\d+$/)]);
    expect(statSync(join(runtime, copies[0]!)).mode & 0o777).toBe(0o100);
  });
});
