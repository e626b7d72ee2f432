import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import { Sandbox } from '../helpers/cli.ts';

let box: Sandbox;
beforeEach(() => { box = new Sandbox(); });
afterEach(() => box.cleanup());

describe('slipway run --budget', () => {
  it('stops starting tasks once the run has spent its budget, says so, and fails naming every task it kept from starting', async () => {
    mkdirSync(join(box.config, 'slipway'), { recursive: true });
    // A local worker at $36 an hour, billed by the second with a minute's minimum: $0.60 once started.
    writeFileSync(join(box.config, 'slipway', 'config.toml'), '[providers.local]\nhourly_usd = 36\n');
    const file = box.write({
      'slipway.yml': [
        'name: budgeted',
        'matrix: { n: ["1", "2", "3"] }',
        'activities:',
        '  builder: { max_workers: 1 }',
        'steps:',
        '  work: { over: [n], run: sleep 3 }',
        '',
      ].join('\n'),
    });
    const result = await box.run(['run', file, '--budget', '0.50', '--heartbeat-timeout', '3s', '--json']);
    expect(result.code).toBe(1);
    const why = /^the run's budget of \$0\.50 is spent \(\$0\.\d\d on machines so far\): no new task starts; running ones finish$/;
    const report = JSON.parse(result.stdout) as RunReport;
    expect(report.run).toMatchObject({ status: 'failed', budget_usd: 0.5 });
    expect(report.run.spend_cap).toMatch(why);
    expect(report.run.cost_usd).toBeGreaterThanOrEqual(0.6);
    // A task the worker had taken before the budget was found spent ran to its end; none started after.
    const ran = report.tasks.filter((t) => t.attempts.length > 0);
    expect(ran.every((t) => t.status === 'succeeded')).toBe(true);
    const kept = report.tasks.filter((t) => t.attempts.length === 0);
    expect(kept.length).toBeGreaterThanOrEqual(2);
    expect(report.failures.map((f) => f.task)).toEqual(kept.map((t) => t.id));
    for (const failure of report.failures) expect(failure.error).toBe(`not started: ${report.run.spend_cap}`);
    // The progress on stderr says it as it happens.
    expect(result.stderr).toMatch(/capped .*the run's budget of \$0\.50 is spent/);
  });

  it('refuses a budget that is not an amount', async () => {
    const file = box.write({ 'slipway.yml': 'name: x\nactivities:\n  builder: {}\nsteps:\n  a: { run: "true" }\n' });
    const result = await box.run(['run', file, '--budget', 'lots']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--budget takes an amount in USD greater than 0, such as 2.50, not 'lots'");
  });
});
