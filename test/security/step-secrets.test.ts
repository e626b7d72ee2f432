import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import { Sandbox } from '../helpers/cli.ts';

let box: Sandbox;
beforeEach(() => { box = new Sandbox(); });
afterEach(() => box.cleanup());

// Two lines, and characters that base64, URL-encoding and JSON-escaping each change.
const value = 'pa$$/w+rd "quoted" é\nsecond-line-xyz';
const lines = value.split('\n');
const forms = [
  value, ...lines,
  Buffer.from(value).toString('base64').replace(/=+$/, ''),
  Buffer.from(`${value}\n`).toString('base64').replace(/=+$/, ''),
  encodeURIComponent(value),
  JSON.stringify(value).slice(1, -1),
];

/** Every way a careless script prints a secret, one split across two output chunks among them. */
const leakyScript = `
printf '%s\\n' "$PYPI_TOKEN"
printf '%s' "$PYPI_TOKEN" | base64 -w0; echo
echo "$PYPI_TOKEN" | base64 -w0; echo
node -e 'console.log(encodeURIComponent(process.env.PYPI_TOKEN))'
node -e 'console.log(JSON.stringify(process.env.PYPI_TOKEN))'
while IFS= read -r line; do echo "line: $line"; done <<< "$PYPI_TOKEN"
printf '%s' "\${PYPI_TOKEN:0:6}"; sleep 0.5; printf '%s\\n' "\${PYPI_TOKEN:6}"
printf '%s' "$PYPI_TOKEN" | sha256sum | cut -d' ' -f1 > "$OUT/seen"
printf '%s\n' "$PYPI_TOKEN" > "$OUT/left-behind"
`;

function pipeline(out: string, secrets: string): string {
  return `
name: publish
activities:
  # A cleanup that prints what a task left behind: the worker's log masks it too.
  box: { provider: local, max_workers: 1, idle_timeout: 30s, cleanup: 'cat ${out}/left-behind 2>/dev/null || true' }
steps:
  upload:
    secrets: [${secrets}]
    retry: { attempts: 1 }
    env: { OUT: ${JSON.stringify(out)} }
    run: |${leakyScript.split('\n').map((line) => `\n      ${line}`).join('')}
`;
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

function expectNoForm(where: string, text: string): void {
  for (const form of forms) expect(text.includes(form), `${where} shows ${JSON.stringify(form)}`).toBe(false);
}

async function setSecret(name: string, text: string): Promise<void> {
  const file = join(box.dir.path, `${name}.value`);
  writeFileSync(file, text);
  const result = await box.run(['secrets', 'set', name, '--file', file]);
  expect(result).toMatchObject({ code: 0, stdout: `set secret ${name}\n` });
}

describe('step secrets', () => {
  it('reach the task, and no log, logs command or report shows them printed any way', async () => {
    await setSecret('PYPI_TOKEN', `${value}\n`);
    const out = box.sharedDir('out');
    const file = box.write({ 'slipway.yml': pipeline(out, 'PYPI_TOKEN') });

    const run = await box.run(['run', file, '--json']);
    expect(run.code, run.stderr).toBe(0);
    // The task saw the value itself, not a masked one.
    expect(readFileSync(join(out, 'seen'), 'utf8').trim()).toBe(createHash('sha256').update(value).digest('hex'));
    expectNoForm('the report', run.stdout);
    expectNoForm('the progress', run.stderr);
    const report = (JSON.parse(run.stdout) as { run: { id: string } }).run;

    const logs = await box.run(['logs', report.id, 'upload']);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toContain('line: ***');
    expectNoForm('slipway logs', logs.stdout);
    const logFiles = filesUnder(join(box.state, 'slipway', 'logs'));
    expect(logFiles.length).toBeGreaterThan(0);
    for (const path of logFiles) expectNoForm(path, readFileSync(path, 'utf8'));
    // The run's end ended the worker's credential: its cleanup's output is in the agent's own log.
    const allLogs = logFiles.map((path) => readFileSync(path, 'utf8')).join('\n');
    expect(allLogs).toContain('--- cleanup ---\n***\n--- cleanup succeeded ---');
  });

  it('are kept encrypted under a key only its owner reads, and listed without their values', async () => {
    await setSecret('PYPI_TOKEN', value);
    const key = join(box.state, 'slipway', 'secrets.key');
    expect(statSync(key).mode & 0o777).toBe(0o600);
    for (const path of filesUnder(join(box.state, 'slipway')).filter((p) => p.includes('slipway.db'))) {
      const bytes = readFileSync(path);
      for (const line of lines) expect(bytes.includes(Buffer.from(line)), path).toBe(false);
    }

    const list = await box.run(['secrets', 'list', '--json']);
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as { name: string }[]).map((s) => s.name)).toEqual(['PYPI_TOKEN']);
    expectNoForm('secrets list --json', list.stdout);
    expectNoForm('secrets list', (await box.run(['secrets', 'list'])).stdout);

    expect(await box.run(['secrets', 'delete', 'PYPI_TOKEN'])).toMatchObject({ code: 0, stdout: 'deleted secret PYPI_TOKEN\n' });
    expect(JSON.parse((await box.run(['secrets', 'list', '--json'])).stdout)).toEqual([]);
  });

  it('refuses a bad name or a value too short to mask', async () => {
    const file = join(box.dir.path, 'short');
    writeFileSync(file, 'abc\n');
    expect(await box.run(['secrets', 'set', 'SHORT', '--file', file]))
      .toMatchObject({ code: 2, stderr: expect.stringContaining('SHORT: a secret\'s value must be at least 4 characters') });
    expect(await box.run(['secrets', 'set', 'pypi-token', '--file', file]))
      .toMatchObject({ code: 2, stderr: expect.stringContaining("not 'pypi-token'") });
  });

  it('fails the attempt of a step that lists a secret nobody set, naming it', async () => {
    await setSecret('PYPI_TOKEN', value);
    const out = box.sharedDir('out');
    const file = box.write({ 'slipway.yml': pipeline(out, 'PYPI_TOKEN, NPM_TOKEN') });
    const run = await box.run(['run', file, '--json']);
    expect(run.code).not.toBe(0);
    expect(run.stdout).toContain('secret NPM_TOKEN, which the coordinator does not have');
    expect(existsSync(join(out, 'seen'))).toBe(false);
  });

  it('says so as the run starts, fails such a task at once, without its retries, and its worker, which ran nothing, goes on to the next task', async () => {
    const file = box.write({
      'slipway.yml': `
name: publish
activities:
  box: { provider: local, max_workers: 1 }
steps:
  upload:
    secrets: [NPM_TOKEN]
    retry: { attempts: 3, delay: 1s }
    run: exit 0
  notes:
    run: exit 0
`,
    });
    const run = await box.run(['run', file, '--json']);
    expect(run.code, run.stderr).toBe(1);
    // Told as the run starts, not only when the task fails.
    expect(run.stderr).toMatch(/started +run r-\S+ +\(2 tasks; step upload lists secret NPM_TOKEN, which the coordinator does not have \(slipway secrets set NPM_TOKEN\): its tasks fail unless that changes before they start\)/);
    const report = JSON.parse(run.stdout) as RunReport;
    const [upload, notes] = report.tasks;
    expect([upload?.status, upload?.attempts.length, notes?.status]).toEqual(['failed', 1, 'succeeded']);
    expect(notes?.attempts.map((attempt) => attempt.worker)).toEqual([upload?.attempts[0]?.worker]);
  });
});
