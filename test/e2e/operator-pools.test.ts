/**
 * A server whose operator defines the pools: it refuses a pipeline that defines its own
 * machines, runs one that names a pool, and keeps the pool's min_idle workers warm for the
 * next run.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import { Sandbox } from '../helpers/cli.ts';
import { processesUnder, waitFor } from '../helpers/processes.ts';
import { startServer } from '../helpers/server-process.ts';

let box: Sandbox | undefined;
let signals: string | undefined;
afterEach(() => {
  box?.cleanup();
  if (signals) rmSync(signals, { recursive: true, force: true });
});

interface Worker { id: string; state: string; stop_reason: string | null }

async function api<T>(url: string, admin: string, path: string): Promise<T> {
  const response = await fetch(`${url}/api/v1${path}`, { headers: { authorization: `Bearer ${admin}` } });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return (path.endsWith('/log') ? await response.text() : await response.json()) as T;
}

describe('a server with pipelines_may_define_pools = false and a [pools.builder] that keeps one worker warm', () => {
  it('refuses a machine-defining pipeline, runs a pool: one, and serves the next run on the warm worker', async () => {
    box = new Sandbox();
    // Where the test says "go": a directory every user may look into (a root server runs tasks as another user).
    signals = mkdtempSync(join(tmpdir(), 'slipway-pools-'));
    chmodSync(signals, 0o755);
    const go = join(signals, 'go');
    mkdirSync(join(box.config, 'slipway'), { recursive: true });
    writeFileSync(join(box.config, 'slipway', 'config.toml'), [
      '[server]',
      'pipelines_may_define_pools = false',
      '[pools.builder]',
      'provider = "local"',
      'max_workers = 2',
      'min_idle = 1',
      'idle_timeout = "1s"',
      '',
    ].join('\n'));
    box.write({
      'own.yml': 'name: own\nactivities:\n  builder: { provider: local }\n  big: { max_workers: 1 }\nsteps:\n  build: { activity: builder, run: "true" }\n  ship: { activity: big, run: "true" }\n',
      'pooled.yml': [
        'name: pooled',
        'matrix: { n: ["1", "2"] }',
        'activities:',
        '  builder: { pool: builder }',
        'steps:',
        '  build:',
        '    over: [n]',
        `    env: { GO: ${JSON.stringify(go)} }`,
        '    run: while [ ! -e "$GO" ]; do sleep 0.1; done',
        '',
      ].join('\n'),
      'next.yml': 'name: next\nactivities:\n  builder: { pool: builder }\nsteps:\n  build: { run: echo next }\n',
      'control.yml': 'name: control\nactivities:\n  builder: { pool: builder }\nsteps:\n  build: { run: make, done_if: { run: cat ~/.ssh/id_rsa, activity: control } }\n',
    });
    const { server, url, admin } = await startServer(box);
    const submit = (file: string) => box!.run(['run', join(box!.source, file), '--server', url, '--json'], { SLIPWAY_TOKEN: admin });

    // Refused before anything is recorded, naming each activity that defines its own machines.
    const refused = await submit('own.yml');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('answered 422');
    expect(refused.stderr).toContain("own.yml:3:3: activities.builder: activity 'builder' defines its own machines, which this server does not allow: name one of the operator's pools instead (pool: NAME; defined: builder)");
    expect(refused.stderr).toContain("own.yml:4:3: activities.big: activity 'big' defines its own machines");
    // So is a pipeline that names control, which runs on the server's own host.
    const onHost = await submit('control.yml');
    expect([onHost.code, onHost.stderr]).toEqual([2, expect.stringContaining("control.yml:5:68: steps.build.done_if.activity: 'control' runs on the server's own host, which this server does not allow")]);
    expect((await api<{ runs: unknown[] }>(url, admin, '/runs')).runs).toEqual([]);

    // Accepted: two tasks at once on the pool's two workers.
    const pooled = box.spawn(['run', join(box.source, 'pooled.yml'), '--server', url, '--json'], { SLIPWAY_TOKEN: admin });
    await waitFor(async () => {
      const { runs } = await api<{ runs: { id: string }[] }>(url, admin, '/runs');
      if (!runs[0]) return false;
      return (await api<RunReport>(url, admin, `/runs/${runs[0].id}`)).tasks.every((t) => t.status === 'running');
    }, 60_000, 'both tasks of the pooled run running');
    writeFileSync(go, '');
    const done = await pooled.result;
    expect(done.code, done.stderr).toBe(0);

    // Idle past idle_timeout, one stops and the other is kept warm (min_idle = 1).
    let warm: Worker | undefined;
    await waitFor(async () => {
      const { workers } = await api<{ workers: Worker[] }>(url, admin, '/workers');
      warm = workers.find((w) => w.state === 'idle');
      if (!warm || workers.filter((w) => w.state === 'stopped').length !== 1) return false;
      return (await api<string>(url, admin, `/workers/${warm.id}/log`)).includes('kept warm: its pool keeps 1 idle');
    }, 30_000, 'one worker stopped for idleness and the other kept warm');
    const { workers } = await api<{ workers: Worker[] }>(url, admin, '/workers');
    expect(workers.find((w) => w.state === 'stopped')!.stop_reason).toMatch(/idle/);

    // The next run, of another pipeline naming the pool, runs on the warm worker.
    const next = await submit('next.yml');
    expect(next.code, next.stderr).toBe(0);
    const report = JSON.parse(next.stdout) as RunReport;
    expect(report.tasks[0]!.attempts.map((a) => a.worker)).toEqual([warm!.id]);

    // The warm workers outlive every run and the server (they would wait for it to come back): ended by the test.
    server.kill('SIGTERM');
    await server.result;
    for (const left of processesUnder(box.dir.path)) {
      try {
        process.kill(left.pid, 'SIGKILL');
      } catch {
        // Ended meanwhile.
      }
    }
    await waitFor(() => processesUnder(box!.dir.path).length === 0, 15_000, 'every process to end');
  });
});
