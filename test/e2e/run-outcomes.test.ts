import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import { openSqliteStore } from '../../src/store/store.ts';
import { Sandbox } from '../helpers/cli.ts';
import { processesUnder } from '../helpers/processes.ts';

let box: Sandbox;
beforeEach(() => { box = new Sandbox(); });
afterEach(() => box.cleanup());

async function events(runId: string) {
  const store = await openSqliteStore(join(box.state, 'slipway', 'slipway.db'));
  try {
    return await store.db.selectFrom('events').selectAll().where('run_id', '=', runId).orderBy('seq').execute();
  } finally {
    await store.close();
  }
}

describe('slipway run', () => {
  it('keeps a failure in its branch: dependents blocked, other branches succeed, exit 1, every failure named', async () => {
    const file = box.write({
      'slipway.yml': `
name: branches
matrix:
  version: ["1", "2"]
  distro: [a, b]
activities:
  builder: { provider: local, max_workers: 2, idle_timeout: 10s }
steps:
  build:
    over: [version, distro]
    retry: { attempts: 1 }
    run: |
      echo "building $VERSION on $DISTRO"
      if [ "$VERSION-$DISTRO" = "2-b" ]; then echo "compiler exploded" >&2; exit 3; fi
  package:
    needs: [build]
    over: [version, distro]
    run: echo "package $VERSION $DISTRO"
  publish:
    needs: [package]
    over: [version]
    run: echo "publish $VERSION"
`,
    });
    const result = await box.run(['run', file, '--json']);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as RunReport;
    expect(report.run).toMatchObject({ pipeline: 'branches', status: 'failed' });
    expect(report.run.id).toMatch(/^r-[0-9a-f]{8}$/);
    expect(Object.fromEntries(report.tasks.map((t) => [t.id, t.status]))).toEqual({
      'build[version=1,distro=a]': 'succeeded',
      'build[version=1,distro=b]': 'succeeded',
      'build[version=2,distro=a]': 'succeeded',
      'build[version=2,distro=b]': 'failed',
      'package[version=1,distro=a]': 'succeeded',
      'package[version=1,distro=b]': 'succeeded',
      'package[version=2,distro=a]': 'succeeded',
      'package[version=2,distro=b]': 'blocked',
      'publish[version=1]': 'succeeded',
      'publish[version=2]': 'blocked',
    });
    const failed = report.tasks.find((t) => t.status === 'failed')!;
    expect(failed.attempts).toHaveLength(1);
    expect(failed.attempts[0]).toMatchObject({ number: 1, outcome: 'failed', exit_code: 3, error: 'exit code 3' });
    expect(report.failures).toEqual([{
      task: 'build[version=2,distro=b]', step: 'build', matrix: { version: '2', distro: 'b' },
      worker: failed.attempts[0]!.worker, error: 'exit code 3', log_tail: 'building 2 on b\ncompiler exploded',
    }]);
    expect(failed.attempts[0]!.worker).toMatch(/^w-[0-9a-f]{8}$/);

    const shown = await box.run(['show', report.run.id]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('build[version=2,distro=b]');
    expect(shown.stdout).toContain('version=2 distro=b');
    expect(shown.stdout).toContain('exit code 3');
    expect(shown.stdout).toMatch(/failed: 1 failed, 2 blocked, 7 succeeded/);

    const logs = await box.run(['logs', report.run.id, 'build[version=2,distro=b]']);
    expect(logs.stdout).toContain('building 2 on b');
    expect(logs.stdout).toContain('compiler exploded');
    expect(processesUnder(box.dir.path)).toEqual([]);
  });

  it('retries a failed attempt on a fresh worker and succeeds on the second attempt', async () => {
    const mark = join(box.dir.path, 'first-attempt-done');
    const file = box.write({
      'slipway.yml': `
name: flaky
activities:
  builder: { max_workers: 1 }
steps:
  flaky:
    retry: { attempts: 2, delay: 1s }
    env: { MARK: "${mark}" }
    run: |
      if [ ! -f "$MARK" ]; then touch "$MARK"; echo "attempt $SLIPWAY_ATTEMPT fails"; exit 1; fi
      echo "attempt $SLIPWAY_ATTEMPT works"
`,
    });
    const result = await box.run(['run', file, '--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as RunReport;
    const [first, second] = report.tasks[0]!.attempts;
    expect(first).toMatchObject({ number: 1, outcome: 'failed', exit_code: 1 });
    expect(second).toMatchObject({ number: 2, outcome: 'succeeded', exit_code: 0 });
    expect(Date.parse(second!.started_at) - Date.parse(first!.finished_at!)).toBeGreaterThanOrEqual(1000);
    // A worker takes no new task after a failure: it stops, and the retry needs a new one.
    expect(second!.worker).not.toBe(first!.worker);
    const stops = (await events(report.run.id)).filter((e) => e.kind === 'worker.stopped');
    expect(stops.find((e) => e.worker_id === first!.worker)?.message).toBe('task flaky failed');
    const logs = await box.run(['logs', report.run.id, 'flaky']);
    expect(logs.stdout).toContain('attempt 1 fails');
    expect(logs.stdout).toContain('attempt 2 works');
  });

  it('kills a task that runs past its timeout, with its children', async () => {
    const file = box.write({
      'slipway.yml': `
name: slow
activities:
  builder: {}
steps:
  slow:
    timeout: 1s
    retry: { attempts: 1 }
    run: |
      sleep 300 &
      bash -c 'sleep 301' &
      echo "started children"
      sleep 302
`,
    });
    const started = Date.now();
    const result = await box.run(['run', file, '--json']);
    expect(result.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(30_000);
    const report = JSON.parse(result.stdout) as RunReport;
    expect(report.tasks[0]!.attempts[0]).toMatchObject({ outcome: 'timed_out', error: 'timed out after 1s' });
    // Its script ran from its start to its kill; the attempt holds that and the agent's work around it.
    const attempt = report.tasks[0]!.attempts[0]!;
    expect(attempt.script_ms).toBeGreaterThanOrEqual(1000);
    expect(attempt.script_ms).toBeLessThanOrEqual(Date.parse(attempt.finished_at!) - Date.parse(attempt.started_at));
    expect(report.failures[0]).toMatchObject({ task: 'slow', error: 'timed out after 1s' });
    expect(processesUnder(box.dir.path)).toEqual([]);
  });

  it('skips tasks whose done_if says they are done, without starting their activity', async () => {
    const out = join(box.dir.path, 'published');
    const file = box.write({
      'slipway.yml': `
name: publish
matrix:
  version: ["1", "2"]
activities:
  builder: { max_workers: 2 }
steps:
  publish:
    over: [version]
    env: { OUT: "${out}" }
    done_if: test -f "$OUT/$VERSION"
    run: mkdir -p "$OUT" && echo "$VERSION" > "$OUT/$VERSION"
`,
    });
    const first = await box.run(['run', file, '--json']);
    expect(first.code).toBe(0);
    expect((JSON.parse(first.stdout) as RunReport).tasks.map((t) => t.status)).toEqual(['succeeded', 'succeeded']);
    expect(readFileSync(join(out, '2'), 'utf8')).toBe('2\n');

    const second = await box.run(['run', file, '--json']);
    expect(second.code).toBe(0);
    const report = JSON.parse(second.stdout) as RunReport;
    expect(report.tasks.map((t) => [t.id, t.status, t.attempts.length])).toEqual([['publish[version=1]', 'skipped', 0], ['publish[version=2]', 'skipped', 0]]);
    const started = (await events(report.run.id)).filter((e) => e.kind === 'worker.registered');
    const store = await openSqliteStore(join(box.state, 'slipway', 'slipway.db'));
    const activities = await store.db.selectFrom('workers').select('activity').where('id', 'in', started.map((e) => e.worker_id!)).execute();
    await store.close();
    expect(new Set(activities.map((w) => w.activity))).toEqual(new Set(['control']));

    const forced = await box.run(['run', file, '--json', '--force', '--set', 'version=2']);
    expect((JSON.parse(forced.stdout) as RunReport).tasks.map((t) => [t.id, t.status])).toEqual([['publish[version=2]', 'succeeded']]);
  });

  it('runs init once per worker and cleanup before it stops, and shuts a worker down when idle', async () => {
    const file = box.write({
      'slipway.yml': `
name: lifecycle
activities:
  quick: { max_workers: 1, idle_timeout: 1s, init: echo "init ran", cleanup: echo "cleanup ran" }
  slow: { max_workers: 1 }
steps:
  first: { activity: quick, run: echo first }
  middle: { activity: slow, needs: [first], run: sleep 3 }
  last: { activity: quick, needs: [middle], run: echo last }
`,
    });
    const result = await box.run(['run', file, '--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as RunReport;
    const workerOf = (id: string) => report.tasks.find((t) => t.id === id)!.attempts[0]!.worker!;
    expect(workerOf('last')).not.toBe(workerOf('first'));
    const all = await events(report.run.id);
    const idleStop = all.find((e) => e.kind === 'worker.stopped' && e.worker_id === workerOf('first'));
    expect(idleStop?.message).toBe('idle for 1s');
    expect(idleStop!.seq).toBeLessThan(all.find((e) => e.kind === 'task.started' && e.task_key === 'last')!.seq);
    const workerLog = readFileSync(join(box.state, 'slipway', 'logs', report.run.id, 'workers', `${workerOf('first')}.log`), 'utf8');
    expect(workerLog.indexOf('init ran')).toBeGreaterThan(-1);
    expect(workerLog.indexOf('first\n')).toBeGreaterThan(workerLog.indexOf('init ran'));
    expect(workerLog.indexOf('cleanup ran')).toBeGreaterThan(workerLog.indexOf('first\n'));
    expect(workerLog).toMatch(/ww-0-quick/);
    expect(workerLog).toMatch(/wa-1-first/);
    expect(workerLog).toMatch(/ww-1-first/);
    expect(existsSync(join(box.state, 'slipway', 'logs', report.run.id, 'workers', `${workerOf('last')}.log`))).toBe(true);
  });

  it('prepares the machine once per prepare script, before any init, and again only when the script changes', async () => {
    const marks = join(box.dir.path, 'prepared.log');
    const tool = join(box.dir.path, 'tool');
    // Each task waits until tasks ran on two workers: the pool must grow to two, whatever
    // its pace says, so both workers come to prepare the machine.
    const seen = join(box.dir.path, 'workers-seen');
    mkdirSync(seen);
    const pipeline = `
name: prepared
matrix:
  n: ["1", "2", "3", "4"]
activities:
  builder: { max_workers: 2, prepare: scripts/prepare.sh, init: test -f ${tool} }
steps:
  build:
    over: [n]
    run: |
      test -f ${tool}
      touch "${seen}/$SLIPWAY_WORKER"
      while [ "$(ls "${seen}" | wc -l)" -lt 2 ]; do sleep 0.1; done
`;
    const prepare = (version: string) => `#!/bin/bash\nsleep 0.5\necho "${version}" >> "${marks}"\ntouch "${tool}"\n`;
    const file = box.write({ 'slipway.yml': pipeline, 'scripts/prepare.sh': prepare('gcc-13') });
    const first = await box.run(['run', file, '--json']);
    expect(first.code, first.stderr).toBe(0);
    const workers = new Set((JSON.parse(first.stdout) as RunReport).tasks.map((t) => t.attempts[0]!.worker));
    expect(workers.size).toBe(2);
    expect(readFileSync(marks, 'utf8')).toBe('gcc-13\n');

    expect((await box.run(['run', file, '--json'])).code).toBe(0);
    expect(readFileSync(marks, 'utf8')).toBe('gcc-13\n');

    box.write({ 'scripts/prepare.sh': prepare('gcc-14') });
    expect((await box.run(['run', file, '--json'])).code).toBe(0);
    expect(readFileSync(marks, 'utf8')).toBe('gcc-13\ngcc-14\n');
    expect(processesUnder(box.dir.path)).toEqual([]);
  });

  it('fails the tasks of an activity whose init keeps failing, instead of starting workers forever', async () => {
    const file = box.write({
      'slipway.yml': `
name: badinit
activities:
  builder: { max_workers: 1, init: 'echo "mounting the cache"; exit 4' }
steps:
  build: { run: echo never }
  ship: { needs: [build], run: echo never }
`,
    });
    const result = await box.run(['run', file, '--json']);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as RunReport;
    expect(report.tasks.map((t) => [t.id, t.status])).toEqual([['build', 'failed'], ['ship', 'blocked']]);
    expect(report.failures[0]!.error).toMatch(/^activity builder: 3 workers in a row failed their init \(last, (w-[0-9a-f]{8}): init exit code 4\)$/);
    const workerId = report.failures[0]!.error.match(/w-[0-9a-f]{8}/)![0];
    const workerLog = await box.run(['logs', report.run.id, '--worker', workerId]);
    expect(workerLog.stdout).toContain('mounting the cache');
    expect(processesUnder(box.dir.path)).toEqual([]);
  });

  it('never has more workers than max_workers', async () => {
    // Tasks wait until tasks ran on two workers, so the pool grows to its limit whatever its pace.
    const seen = join(box.dir.path, 'wide-workers-seen');
    mkdirSync(seen);
    const file = box.write({
      'slipway.yml': `
name: wide
matrix:
  n: ["1", "2", "3", "4", "5", "6"]
activities:
  builder: { max_workers: 2 }
steps:
  work:
    over: [n]
    run: |
      touch "${seen}/$SLIPWAY_WORKER"
      while [ "$(ls "${seen}" | wc -l)" -lt 2 ]; do sleep 0.1; done
      sleep 0.3
`,
    });
    const result = await box.run(['run', file, '--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as RunReport;
    const spans = report.tasks.map((t) => [Date.parse(t.attempts[0]!.started_at), Date.parse(t.attempts[0]!.finished_at!)] as const);
    const most = Math.max(...spans.map(([start]) => spans.filter(([s, f]) => s <= start && start < f).length));
    expect(most).toBe(2);
    const workers = new Set(report.tasks.map((t) => t.attempts[0]!.worker));
    expect(workers.size).toBe(2);
  });
});
