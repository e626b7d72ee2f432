/**
 * One fleet for every run of a server: two runs of one pipeline share its workers, each
 * task in its own run's tree.
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import { Sandbox } from '../helpers/cli.ts';
import { processesUnder, waitFor } from '../helpers/processes.ts';
import { startServer } from '../helpers/server-process.ts';

let box: Sandbox | undefined;
/** Where the test says "go": a directory every user may look into (a root server runs tasks as another user). */
let signals: string | undefined;
afterEach(() => {
  box?.cleanup();
  if (signals) rmSync(signals, { recursive: true, force: true });
});

async function api<T>(url: string, admin: string, path: string): Promise<T> {
  const response = await fetch(`${url}/api/v1${path}`, { headers: { authorization: `Bearer ${admin}` } });
  return await response.json() as T;
}

describe('a server running two runs of one pipeline', () => {
  it('serves both with the workers of one pool: no more than its max_workers in all, and the second run starts none', async () => {
    box = new Sandbox();
    signals = mkdtempSync(join(tmpdir(), 'slipway-fleet-'));
    chmodSync(signals, 0o755);
    const go = join(signals, 'go');
    const file = box.write({
      'slipway.yml': `
name: shared
matrix:
  n: ["1", "2", "3"]
activities:
  builder: { max_workers: 2, idle_timeout: 30s }
steps:
  build:
    over: [n]
    env: { GO: ${JSON.stringify(go)} }
    run: |
      echo "tree of $(cat version.txt)"
      while [ ! -e "$GO" ]; do sleep 0.1; done
`,
      'version.txt': 'first\n',
    });
    const { server, url, admin } = await startServer(box);
    const submit = () => box!.spawn(['run', file, '--server', url, '--json'], { SLIPWAY_TOKEN: admin });
    const first = submit();
    let firstId: string | undefined;
    await waitFor(async () => {
      const { runs } = await api<{ runs: { id: string }[] }>(url, admin, '/runs');
      firstId = runs[0]?.id;
      if (!firstId) return false;
      const report = await api<RunReport>(url, admin, `/runs/${firstId}`);
      // Both workers busy with the first run: each then has a task of it in its log,
      // whichever of them takes the second run's tasks.
      return report.tasks.filter((t) => t.status === 'running').length === 2;
    }, 30_000, 'the first run to keep both its workers busy');
    // The second run's tree differs: its tasks must see it, not the first's.
    box.write({ 'version.txt': 'second\n' });
    const second = submit();
    // The first run's tasks wait until the second run is queued behind them.
    await waitFor(async () => (await api<{ runs: { id: string }[] }>(url, admin, '/runs')).runs.length === 2, 30_000, 'the second run');
    writeFileSync(go, '');

    const [a, b] = [await first.result, await second.result];
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const reports = [JSON.parse(a.stdout) as RunReport, JSON.parse(b.stdout) as RunReport];
    const secondId = reports[1]!.run.id;
    expect(reports[0]!.run.id).toBe(firstId);

    // Two workers at most for both runs, all started for the first; the second started none.
    const { workers } = await api<{ workers: { id: string; run: string; pool: string }[] }>(url, admin, '/workers');
    expect(workers.length).toBeGreaterThan(0);
    expect(workers.length).toBeLessThanOrEqual(2);
    expect(workers.every((w) => w.run === firstId)).toBe(true);
    expect(new Set(workers.map((w) => w.pool)).size).toBe(1);

    // The second run's tasks ran on the first run's workers, in the second run's tree.
    const secondWorkers = new Set(reports[1]!.tasks.flatMap((t) => t.attempts.map((x) => x.worker)));
    const firstWorkers = new Set(reports[0]!.tasks.flatMap((t) => t.attempts.map((x) => x.worker)));
    expect([...secondWorkers].every((w) => firstWorkers.has(w))).toBe(true);
    for (const task of reports[1]!.tasks) {
      const log = await box.run(['logs', secondId, task.id, '--server', url], { SLIPWAY_TOKEN: admin });
      expect(log.stdout).toContain('tree of second');
    }
    // One worker's log shows tasks of both runs.
    const workerLogs = join(box.state, 'slipway', 'logs', firstId!, 'workers');
    const logs = readdirSync(workerLogs).map((name) => readFileSync(join(workerLogs, name), 'utf8'));
    expect(logs.some((log) => log.includes(`of run ${firstId}`) && log.includes(`of run ${secondId}`))).toBe(true);

    server.kill('SIGTERM');
    await server.result;
    await waitFor(() => processesUnder(box!.dir.path).length === 0, 15_000, 'every process to end');
  });
});
