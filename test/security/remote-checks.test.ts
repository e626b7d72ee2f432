import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import { openSqliteStore } from '../../src/store/store.ts';
import { Sandbox } from '../helpers/cli.ts';
import { processesUnder, waitFor } from '../helpers/processes.ts';
import { keyPair, SshdHost } from '../helpers/sshd.ts';

/**
 * A pipeline whose activities are all remote runs nothing on the coordinator's host: its
 * done_if checks run on its steps' own ssh workers, not on the local `control` activity.
 */
describe('done_if checks of a pipeline whose activities are all on ssh hosts', () => {
  const box = new Sandbox();
  let host: SshdHost | undefined;
  afterAll(async () => {
    if (host) {
      host.cutOff();
      await waitFor(() => processesUnder(host!.workDir).length === 0, 10_000, 'the host to be empty').catch(() => undefined);
    }
    box.cleanup();
  });

  /** Where each check and task of a run ran, as the store the UI and API read from has it. */
  async function history(runId: string) {
    const store = await openSqliteStore(join(box.state, 'slipway', 'slipway.db'));
    try {
      const workers = await store.db.selectFrom('workers').select(['id', 'activity', 'provider']).where('run_id', '=', runId).execute();
      const attempts = await store.db.selectFrom('attempts').select(['kind', 'worker_id', 'outcome']).where('run_id', '=', runId).orderBy('started_at').execute();
      const events = await store.db.selectFrom('events').selectAll().where('run_id', '=', runId).orderBy('seq').execute();
      const workerOf = (id: string | null) => workers.find((w) => w.id === id);
      return { workers, attempts: attempts.map((a) => ({ ...a, worker: workerOf(a.worker_id) })), events, workerOf };
    } finally {
      await store.close();
    }
  }

  /** `slipway run`, interrupted if it hangs, so that its progress shows what it waited for. */
  async function run(file: string) {
    const child = box.spawn(['run', file, '--json']);
    const timer = setTimeout(() => child.kill('SIGINT'), 75_000);
    try {
      return await child.result;
    } finally {
      clearTimeout(timer);
    }
  }

  it('runs them on the step\'s ssh workers, as the host\'s login user in its work directory, and never starts control', async () => {
    const client = keyPair(join(box.dir.path, 'client_ed25519'));
    host = await SshdHost.start('builder-1', join(box.dir.path, 'builder-1'), client.pub);
    mkdirSync(join(box.config, 'slipway'), { recursive: true });
    writeFileSync(join(box.config, 'slipway', 'config.toml'), host.configTable(client.key));
    // What the checks themselves say of where they ran, in a directory every user may write.
    const out = box.sharedDir('out');
    const file = box.write({
      'slipway.yml': `
name: remote-checks
activities:
  hosts: { provider: ssh, max_workers: 1, idle_timeout: 1s }
steps:
  publish:
    env: { OUT: "${out}" }
    done_if: |
      echo "$(id -u) $PWD" >> "$OUT/checks"
      test -f "$OUT/published"
    run: touch "$OUT/published"
`,
    });

    // Not done yet: the check says so, and the task runs.
    const first = await run(file);
    expect(first.code, first.stderr).toBe(0);
    const firstReport = JSON.parse(first.stdout) as RunReport;
    expect(firstReport.tasks.map((t) => [t.id, t.status])).toEqual([['publish', 'succeeded']]);
    const ran = await history(firstReport.run.id);
    expect(ran.attempts.map((a) => [a.kind, a.outcome, a.worker?.activity, a.worker?.provider])).toEqual([
      ['check', 'failed', 'hosts', 'ssh'],
      ['run', 'succeeded', 'hosts', 'ssh'],
    ]);
    expect(ran.workerOf(firstReport.tasks[0]!.attempts[0]!.worker)).toMatchObject({ activity: 'hosts', provider: 'ssh' });

    // Done now: the check, again on the host, skips the task.
    const second = await run(file);
    expect(second.code, second.stderr).toBe(0);
    const secondReport = JSON.parse(second.stdout) as RunReport;
    expect(secondReport.tasks.map((t) => [t.id, t.status, t.attempts.length])).toEqual([['publish', 'skipped', 0]]);
    const skipped = await history(secondReport.run.id);
    const event = skipped.events.find((e) => e.kind === 'task.skipped');
    expect(skipped.workerOf(event!.worker_id)).toMatchObject({ activity: 'hosts', provider: 'ssh' });
    expect(skipped.attempts.map((a) => [a.kind, a.outcome, a.worker?.activity])).toEqual([['check', 'succeeded', 'hosts']]);

    // No run had a worker on this machine.
    expect([...ran.workers, ...skipped.workers].map((w) => [w.activity, w.provider])).toEqual(
      [...ran.workers, ...skipped.workers].map(() => ['hosts', 'ssh']),
    );
    // Each check ran as the host's login user, in a worker's directory on the host.
    const checks = readFileSync(join(out, 'checks'), 'utf8').trim().split('\n').map((line) => line.split(' '));
    expect(checks).toHaveLength(2);
    for (const [uid, dir] of checks) {
      expect(Number(uid)).toBe(host.login.uid);
      expect(dir!.startsWith(`${host.workDir}/`)).toBe(true);
    }
  }, 180_000);
});
