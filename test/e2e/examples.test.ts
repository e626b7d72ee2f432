import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ReportTask, RunReport } from '../../src/engine/report.ts';
import { Sandbox } from '../helpers/cli.ts';
import { copyExample, examplePipeline, exampleNames, readExample } from '../helpers/examples.ts';
import { processesUnder } from '../helpers/processes.ts';

let box: Sandbox;
beforeEach(() => { box = new Sandbox(); });
afterEach(() => box.cleanup());

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/**
 * The report's shape as DESIGN.md fixes it: the names and types of every field scripts
 * read. Fields may be added, never renamed, so only the documented ones are required.
 */
function expectReportShape(report: RunReport): void {
  expect(report).toMatchObject({ run: expect.any(Object), tasks: expect.any(Array), failures: expect.any(Array) });
  expect(report.run.id).toMatch(/^r-[0-9a-f]{8}$/);
  expect(typeof report.run.pipeline).toBe('string');
  expect(['succeeded', 'failed', 'cancelled']).toContain(report.run.status);
  expect(report.run.started_at).toMatch(ISO);
  expect(report.run.finished_at).toMatch(ISO);
  expect(Date.parse(report.run.finished_at!)).toBeGreaterThanOrEqual(Date.parse(report.run.started_at));
  for (const task of report.tasks) {
    expect(task).toMatchObject({
      id: expect.any(String), step: expect.any(String), matrix: expect.any(Object),
      status: expect.any(String), attempts: expect.any(Array),
    });
    expect(task.id).toBe(`${task.step}[${Object.entries(task.matrix).map(([axis, value]) => `${axis}=${value}`).join(',')}]`);
    task.attempts.forEach((attempt, i) => {
      expect(attempt).toMatchObject({ number: i + 1, worker: expect.stringMatching(/^w-[0-9a-f]{8}$/) });
      expect(['succeeded', 'failed', 'timed_out', 'lost', 'cancelled']).toContain(attempt.outcome);
      expect(attempt.started_at).toMatch(ISO);
      expect(attempt.finished_at).toMatch(ISO);
      expect(Date.parse(attempt.finished_at!)).toBeGreaterThanOrEqual(Date.parse(attempt.started_at));
      expect(attempt).toHaveProperty('exit_code');
      expect(attempt).toHaveProperty('error');
    });
  }
  for (const failure of report.failures) {
    expect(failure).toMatchObject({ task: expect.any(String), step: expect.any(String), matrix: expect.any(Object), error: expect.any(String) });
    expect(failure).toHaveProperty('worker');
  }
}

function task(report: RunReport, id: string): ReportTask {
  const found = report.tasks.find((t) => t.id === id);
  if (!found) throw new Error(`no task ${id} in the report; tasks: ${report.tasks.map((t) => t.id).join(', ')}`);
  return found;
}

describe('examples', () => {
  it('has the examples the README and --help point at', () => {
    expect(exampleNames()).toEqual(expect.arrayContaining(['flaky', 'hello-c']));
  });

  it.each(exampleNames())('examples/%s/slipway.yml is valid', async (name) => {
    const file = examplePipeline(name);
    const result = await box.run(['validate', file]);
    const example = readExample(name);
    const steps = Object.keys(example.steps as object).length;
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(new RegExp(`^${file.replaceAll('.', '\\.')}: pipeline ${String(example.name)} is valid: ${steps} steps, [1-9]\\d* tasks\\n$`));
    expect(result.code).toBe(0);
  });
});

describe('examples/hello-c', () => {
  const combos = [['1.0.0', 'debug'], ['1.0.0', 'release'], ['1.1.0', 'debug'], ['1.1.0', 'release']] as const;

  it('builds, tests, packages and publishes 16 tasks, then skips all of them on a second run', async () => {
    const out = join(box.dir.path, 'out');
    const file = copyExample(box, 'hello-c', [['OUT: /tmp/slipway-hello-c', `OUT: ${out}`]]);
    expect((await box.run(['validate', file])).stdout).toBe(`${file}: pipeline hello-c is valid: 4 steps, 16 tasks\n`);

    const first = await box.run(['run', file, '--json']);
    expect(first.code, first.stderr).toBe(0);
    expect(processesUnder(box.dir.path)).toEqual([]);
    const report = JSON.parse(first.stdout) as RunReport;
    expectReportShape(report);
    expect(report.run).toMatchObject({ pipeline: 'hello-c', status: 'succeeded' });
    expect(report.failures).toEqual([]);
    // Step order, then the first axis of `over` slowest.
    expect(report.tasks.map((t) => t.id)).toEqual(['build', 'test', 'package', 'publish'].flatMap(
      (step) => combos.map(([version, config]) => `${step}[version=${version},config=${config}]`),
    ));
    for (const t of report.tasks) {
      expect(t.status, t.id).toBe('succeeded');
      expect(t.attempts, t.id).toHaveLength(1);
      expect(t.attempts[0]).toMatchObject({ number: 1, outcome: 'succeeded', exit_code: 0, error: null });
      const [, version, config] = /version=([^,]+),config=([^\]]+)/.exec(t.id)!;
      expect(t.matrix).toEqual({ version, config });
    }
    // A task starts only after the task it needs (same version and config) has finished.
    for (const [need, step] of [['build', 'test'], ['test', 'package'], ['package', 'publish']]) {
      for (const [version, config] of combos) {
        const before = task(report, `${need}[version=${version},config=${config}]`).attempts[0]!;
        const after = task(report, `${step}[version=${version},config=${config}]`).attempts[0]!;
        expect(Date.parse(after.started_at)).toBeGreaterThanOrEqual(Date.parse(before.finished_at!));
      }
    }

    // What was published: every tarball, listed with its true checksum, and nothing in /tmp.
    const sums = readFileSync(join(out, 'repo', 'SHA256SUMS'), 'utf8');
    const expected = combos.map(([version, config]) => {
      const name = `hello-c-${version}-${config}.tar.gz`;
      const tarball = join(out, 'repo', name);
      expect(existsSync(tarball), tarball).toBe(true);
      return `${createHash('sha256').update(readFileSync(tarball)).digest('hex')}  ${name}\n`;
    });
    expect(sums).toBe(expected.join(''));
    for (const [version, config] of combos) {
      expect(readFileSync(join(out, 'tests', `${version}-${config}.passed`), 'utf8')).toBe(`hello-c ${version} (${config} build)\n`);
    }
    const publishedAt = statSync(join(out, 'repo', 'SHA256SUMS')).mtimeMs;

    const second = await box.run(['run', file, '--json']);
    expect(second.code, second.stderr).toBe(0);
    expect(processesUnder(box.dir.path)).toEqual([]);
    const again = JSON.parse(second.stdout) as RunReport;
    expectReportShape(again);
    expect(again.run).toMatchObject({ pipeline: 'hello-c', status: 'succeeded' });
    expect(again.run.id).not.toBe(report.run.id);
    expect(again.failures).toEqual([]);
    expect(again.tasks.map((t) => [t.id, t.status, t.attempts.length])).toEqual(report.tasks.map((t) => [t.id, 'skipped', 0]));
    expect(statSync(join(out, 'repo', 'SHA256SUMS')).mtimeMs).toBe(publishedAt);

    // What a user reads afterwards.
    const shown = await box.run(['show', again.run.id]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`run ${again.run.id} succeeded: 16 skipped`);
    const runs = await box.run(['runs', '--json']);
    expect((JSON.parse(runs.stdout) as RunReport['run'][]).map((r) => r.id)).toEqual([again.run.id, report.run.id]);
  });
});

describe('examples/flaky', () => {
  it('ends failed: names the failing task with its values, worker and error; blocks its dependent; retries the flaky one', async () => {
    const markers = join(box.dir.path, 'markers');
    const file = copyExample(box, 'flaky', [['/tmp/slipway-flaky-', `${markers}/flaky-`]]);

    // As the README's first steps run it: the example's directory.
    const result = await box.run(['run', dirname(file), '--json']);
    expect(result.code, result.stderr).toBe(1);
    expect(processesUnder(box.dir.path)).toEqual([]);
    const report = JSON.parse(result.stdout) as RunReport;
    expectReportShape(report);
    expect(report.run).toMatchObject({ pipeline: 'flaky', status: 'failed' });
    expect(Object.fromEntries(report.tasks.map((t) => [t.id, t.status]))).toEqual({
      'fetch[shard=a]': 'succeeded', 'fetch[shard=b]': 'succeeded', 'fetch[shard=c]': 'succeeded',
      'process[shard=a]': 'succeeded', 'process[shard=b]': 'succeeded', 'process[shard=c]': 'succeeded',
      'check[shard=a]': 'succeeded', 'check[shard=b]': 'succeeded', 'check[shard=c]': 'failed',
      'publish[shard=a]': 'succeeded', 'publish[shard=b]': 'succeeded', 'publish[shard=c]': 'blocked',
    });

    const failed = task(report, 'check[shard=c]');
    expect(failed.attempts).toHaveLength(1);
    expect(failed.attempts[0]).toMatchObject({ number: 1, outcome: 'failed', exit_code: 3, error: 'exit code 3' });
    expect(report.failures).toEqual([{
      task: 'check[shard=c]', step: 'check', matrix: { shard: 'c' }, worker: failed.attempts[0]!.worker, error: 'exit code 3',
      log_tail: 'shard c: checksum mismatch (this step always fails on c)',
    }]);
    expect(report.failures[0]!.worker).toMatch(/^w-[0-9a-f]{8}$/);
    expect(task(report, 'publish[shard=c]').attempts).toEqual([]);

    const retried = task(report, 'process[shard=b]');
    expect(retried.attempts).toHaveLength(2);
    const [first, second] = retried.attempts;
    expect(first).toMatchObject({ number: 1, outcome: 'failed', exit_code: 1, error: 'exit code 1' });
    expect(second).toMatchObject({ number: 2, outcome: 'succeeded', exit_code: 0 });
    expect(Date.parse(second!.started_at) - Date.parse(first!.finished_at!)).toBeGreaterThanOrEqual(1000);
    for (const t of report.tasks.filter((t) => t.id !== 'process[shard=b]' && t.status !== 'blocked')) {
      expect(t.attempts, t.id).toHaveLength(1);
    }
    // The marker went to the sandbox, not to /tmp.
    expect(existsSync(join(markers, `flaky-${report.run.id}`, 'process-b'))).toBe(true);

    // The same, as a person reads it.
    const shown = await box.run(['show', report.run.id]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('FAILURES (1)');
    expect(shown.stdout).toMatch(/^check\[shard=c\]\n {2}matrix +shard=c\n {2}worker +w-[0-9a-f]{8}\n {2}error +exit code 3\n {2}output +shard c: checksum mismatch \(this step always fails on c\)\n/m);
    expect(shown.stdout).toContain(report.failures[0]!.worker!);
    expect(shown.stdout).toContain(`run ${report.run.id} failed: 1 failed, 1 blocked, 10 succeeded`);
    const logs = await box.run(['logs', report.run.id, 'check[shard=c]']);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain('shard c: checksum mismatch (this step always fails on c)');
    const flakyLogs = await box.run(['logs', report.run.id, 'process[shard=b]']);
    expect(flakyLogs.stdout).toContain('shard b: simulated flaky failure on attempt 1');
    expect(flakyLogs.stdout).toContain('processed shard b on attempt 2');
  });
});

describe('examples/release', () => {
  it('publishes what two activities built to each destination but the excluded one, with a token no log holds', async () => {
    const out = join(box.dir.path, 'out');
    const file = copyExample(box, 'release', [['OUT: /tmp/slipway-release', `OUT: ${out}`]]);
    const token = 'publish-token-4f1c9e';
    const tokenFile = join(box.dir.path, 'token.txt');
    writeFileSync(tokenFile, `${token}\n`);

    // Without its secret the publishing step fails, naming it; the builds still run.
    const refused = await box.run(['run', file, '--json', '--exclude', 'destination=pypi']);
    expect(refused.code).toBe(1);
    const refusedReport = JSON.parse(refused.stdout) as RunReport;
    expect(refusedReport.failures.map((f) => [f.task, f.error])).toEqual([
      ['publish[destination=downloads]', 'step publish lists secret PUBLISH_TOKEN, which the coordinator does not have (slipway secrets set PUBLISH_TOKEN)'],
    ]);

    expect((await box.run(['secrets', 'set', 'PUBLISH_TOKEN', '--file', tokenFile])).code).toBe(0);
    const result = await box.run(['run', file, '--json', '--exclude', 'destination=pypi']);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as RunReport;
    expect(report.tasks.map((t) => `${t.id} ${t.status}`)).toEqual(['wheel succeeded', 'installer succeeded', 'publish[destination=downloads] succeeded']);
    expect(existsSync(join(out, 'pypi'))).toBe(false);
    expect(readdirSync(join(out, 'downloads')).sort()).toEqual(['hello-1.0.0-py3-none-any.whl', 'hello-1.0.0-x64.msi', 'hello-1.0.0-x64.msi.sha256']);
    expect(readFileSync(join(out, 'downloads', 'hello-1.0.0-x64.msi'), 'utf8')).toBe('hello 1.0.0: the installer\n');

    const listed = await box.run(['artifacts', report.run.id]);
    expect(listed.stdout.split('\n').slice(1).filter(Boolean).map((line) => line.split(/ +/).slice(0, 2).join(' '))).toEqual([
      'installer dist/hello-1.0.0-x64.msi', 'installer dist/hello-1.0.0-x64.msi.sha256', 'wheel dist/hello-1.0.0-py3-none-any.whl',
    ]);
    const logs = (await box.run(['logs', report.run.id])).stdout;
    expect(logs).toContain('published hello-1.0.0-x64.msi to downloads');
    for (const path of filesUnder(box.state)) expect(readFileSync(path, 'latin1'), path).not.toContain(token);
    expect(processesUnder(box.dir.path)).toEqual([]);
  });
});

/** Every file under `dir`, at any depth. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}
