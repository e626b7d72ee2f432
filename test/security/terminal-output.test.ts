import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import { Sandbox } from '../helpers/cli.ts';

/**
 * What a pipeline can make the CLI write to a terminal: task ids carry matrix values as
 * written, so a value holding `ESC[2J` and a newline would clear the screen or forge a line
 * of output. The CLI shows them escaped; JSON output keeps them exact.
 */

let box: Sandbox;
beforeEach(() => { box = new Sandbox(); });
afterEach(() => box.cleanup());

const RAW_ID = 'build[version=1\x1b[2J\nx]';
const SHOWN_ID = String.raw`build[version=1\x1b[2J\nx]`;

/** No escape sequence, bell or C1 control reaches the terminal. */
function expectNoControls(text: string): void {
  expect(text).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
}

describe('a matrix value with an escape sequence and a newline', () => {
  it('is shown escaped by run, show and the headers of logs, and kept exact by --json', async () => {
    const file = box.write({
      'slipway.yml': `
name: hostile
matrix:
  version: ["1\\e[2J\\nx"]
activities:
  builder: { provider: local, max_workers: 1, idle_timeout: 10s }
steps:
  build:
    over: [version]
    retry: { attempts: 1 }
    run: echo plain log text; exit 3
`,
    });

    const run = await box.run(['run', file]);
    expect(run.code).toBe(1);
    expectNoControls(run.stdout);
    expectNoControls(run.stderr);
    expect(run.stdout).toContain(`failed     ${SHOWN_ID}  attempt 1: exit code 3`);
    expect(run.stdout).toContain(`\n${SHOWN_ID}\n  matrix  version=1\\x1b[2J\\nx\n`);
    expect(run.stdout).toContain(`logs r-`);
    const runId = run.stdout.match(/^run (r-[0-9a-f]{8}) /m)![1]!;

    const shown = await box.run(['show', runId]);
    expect(shown.code).toBe(0);
    expectNoControls(shown.stdout);
    expect(shown.stdout).toMatch(new RegExp(`^failed  ${escapeRegExp(SHOWN_ID)}  1 `, 'm'));
    expect(shown.stdout).toContain(`  log     slipway logs ${runId} '${SHOWN_ID}'\n`);

    const logs = await box.run(['logs', runId, 'build']);
    expect(logs.code).toBe(0);
    expectNoControls(logs.stdout);
    expect(logs.stdout).toMatch(new RegExp(`^==> ${escapeRegExp(SHOWN_ID)} attempt 1 on w-[0-9a-f]{8}: failed <==\nplain log text\n`));

    const json = await box.run(['show', runId, '--json']);
    const report = JSON.parse(json.stdout) as RunReport;
    expect(report.tasks.map((t) => t.id)).toEqual([RAW_ID]);
    expect(report.tasks[0]!.matrix).toEqual({ version: '1\x1b[2J\nx' });
  });

  it('is escaped in errors that quote it', async () => {
    const file = box.write({
      'slipway.yml': `
name: hostile
matrix:
  version: ["1"]
activities:
  builder: { provider: local }
steps:
  build:
    over: [version]
    run: "true"
`,
    });
    const refused = await box.run(['run', file, '--set', 'version\x1b]0;title\x07=1']);
    expect(refused.code).toBe(2);
    expectNoControls(refused.stderr);
    expect(refused.stderr).toContain(String.raw`unknown axis 'version\x1b]0;title\x07'`);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
