/**
 * `slipway simulate` as a user runs it: a small trace through the real coordinator on a
 * simulated cloud, figures a person can check by hand, and clear refusals.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/cli.ts';

const line = (at: number, duration: number, run: string) => JSON.stringify({ at, duration, pool: 'linux', run });

describe('slipway simulate', () => {
  const sandbox = new Sandbox();
  afterAll(() => sandbox.cleanup());
  const trace = join(sandbox.dir.path, 'trace.jsonl');
  // Two tasks at once, then one two minutes later, after both workers have gone.
  writeFileSync(trace, `${[line(0, 60_000, 'push-1'), line(0, 60_000, 'push-1'), line(120_000, 30_000, 'push-2')].join('\n')}\n`);
  const flags = ['--boot', '10s', '--stop-delay', '5s', '--idle-timeout', '30s', '--min-idle', '0', '--price', '3.6'];

  it('prints figures that add up by hand, as JSON and as text', async () => {
    const json = await sandbox.run(['simulate', trace, ...flags, '--json']);
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    const figures = JSON.parse(json.stdout);
    // Two workers boot for the first two tasks (10 s), run them (60 s), idle 30 s and exit:
    // 105 s billed each with the stop delay. The third task finds none and starts a third:
    // 10 + 30 + 30 + 5 = 75 s. Busy: 60 + 60 + 30 = 150 s; billed 285 s; every wait a boot.
    expect(figures).toMatchObject({ tasks: 3, workers_started: 3, peak_workers: 2, wait_s: { p50: 10, p95: 10, p99: 10, mean: 10 } });
    expect(figures.busy_hours * 3600).toBeCloseTo(150, 6);
    expect(figures.billed_hours * 3600).toBeCloseTo(285, 6);
    expect(figures.billed_over_busy).toBeCloseTo(1.9, 6);
    expect(figures.cost_usd).toBeCloseTo(0.285, 6);
    // With foresight each of the two machines the first tasks need is up as they come, and
    // the third task's gap (60 s) costs a restart (10 + 5 s): 150 + 3 * 15 = 195 s, 1.3 x busy.
    expect(figures.foresight_billed_over_busy).toBeCloseTo(1.3, 6);

    const text = await sandbox.run(['simulate', trace, ...flags]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('Simulated 3 tasks of trace.jsonl');
    expect(text.stdout).toMatch(/workers started +3 \(at most 2 at once\)/);
    expect(text.stdout).toMatch(/billed +0\.08 h = 1\.90 x busy, \$0\.28/);
    expect(text.stdout).toMatch(/with foresight +1\.30 x busy: the least any policy bills with no task waiting/);
    expect(text.stdout).toMatch(/^ +hour +tasks +busy h +billed h +billed\/busy +peak +p95 wait$/m);
  });

  it('draws the run into an SVG file with --plot, and says where; not with --sweep', async () => {
    const svg = join(sandbox.dir.path, 'run.svg');
    const plotted = await sandbox.run(['simulate', trace, ...flags, '--json', '--plot', svg]);
    expect(plotted.code).toBe(0);
    expect(plotted.stderr).toContain(`plot written to ${svg}`);
    expect(JSON.parse(plotted.stdout)).toMatchObject({ tasks: 3, workers_started: 3 });
    const text = readFileSync(svg, 'utf8');
    expect(text.startsWith('<svg')).toBe(true);
    expect(text.trimEnd().endsWith('</svg>')).toBe(true);
    expect(text).toContain('trace.jsonl');
    expect(text).toContain('billed/busy 1.90');
    expect(text.match(/data-series="(live|busy|queued)"/g)).toHaveLength(3);

    const swept = join(sandbox.dir.path, 'swept.svg');
    const refused = await sandbox.run(['simulate', trace, '--sweep', '--plot', swept]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--plot draws one simulation: it cannot go with --sweep');
    expect(existsSync(swept)).toBe(false);

    const nowhere = await sandbox.run(['simulate', trace, '--plot', join(sandbox.dir.path, 'no-such-dir', 'x.svg')]);
    expect(nowhere.code).toBe(2);
    expect(nowhere.stderr).toContain('--plot: no such directory');
  });

  it('refuses a bad trace or flag with exit 2, saying where and what', async () => {
    const bad = join(sandbox.dir.path, 'bad.jsonl');
    writeFileSync(bad, `${line(0, 1000, 'a')}\n{"at": 5, "duration": -1, "pool": "linux", "run": "a"}\n`);
    const refused = await sandbox.run(['simulate', bad]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${bad}:2: duration must be a number of milliseconds, 0 or more (got -1)`);

    const missing = await sandbox.run(['simulate', join(sandbox.dir.path, 'nothing.jsonl')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('nothing.jsonl: no such file');

    const flag = await sandbox.run(['simulate', trace, '--idle-timeout', 'soon']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('--idle-timeout: not a duration: "soon"');

    const billing = await sandbox.run(['simulate', trace, '--billing', 'weekly']);
    expect(billing.code).toBe(2);
    expect(billing.stderr).toContain("argument 'weekly' is invalid");
  });
});
