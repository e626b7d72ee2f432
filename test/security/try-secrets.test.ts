import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import { Sandbox } from '../helpers/cli.ts';
import { processesUnder } from '../helpers/processes.ts';
import { TestRepository, testVcsEnv } from '../helpers/repositories.ts';
import { startServer } from '../helpers/server-process.ts';

let box: Sandbox;
beforeEach(() => { box = new Sandbox(); });
afterEach(() => box.cleanup());

/** Each step writes the sha256 of the secret it lists, so the test knows which ones a task saw. */
function pipeline(out: string): string {
  const step = (name: string) => `
  ${name.toLowerCase()}:
    activity: builder
    secrets: [${name}]
    retry: { attempts: 1 }
    env: { OUT: ${out} }
    run: |
      printf '%s' "$${name}" | sha256sum | cut -d' ' -f1 > "$OUT/${name}"
      echo "it is $${name}"`;
  return `
name: tried
activities:
  builder: {}
steps:${step('PYPI_TOKEN')}${step('DEPLOY_KEY')}
`;
}

it('a try gets only the secrets [secrets] try allows, masked in the log stream; a step listing another fails, naming it', async () => {
  const out = box.sharedDir('out');
  mkdirSync(join(box.config, 'slipway'), { recursive: true });
  writeFileSync(join(box.config, 'slipway', 'config.toml'), '[secrets]\ntry = ["PYPI_TOKEN"]\n');
  for (const name of ['PYPI_TOKEN', 'DEPLOY_KEY']) {
    writeFileSync(join(box.dir.path, name), `value of ${name}`);
    expect((await box.run(['secrets', 'set', name, '--file', join(box.dir.path, name)])).code).toBe(0);
  }
  const server = await startServer(box);
  try {
    const repo = new TestRepository('git', join(box.dir.path, 'repo'));
    repo.commit('first', { 'slipway.yml': pipeline(out) });
    const tried = await box.run(['try', '--server', server.url, '--wait', '--json'], { SLIPWAY_TOKEN: server.admin, ...testVcsEnv() }, repo.root);
    const report = JSON.parse(tried.stdout) as RunReport;
    const task = (id: string) => report.tasks.find((t) => t.id === id)!;

    expect(task('pypi_token').status).toBe('succeeded');
    expect(readFileSync(join(out, 'PYPI_TOKEN'), 'utf8').trim()).toBe(createHash('sha256').update('value of PYPI_TOKEN').digest('hex'));
    // The log as a browser follows it (SSE) shows the value masked.
    const stream = await fetch(`${server.url}/api/v1/attempts/${task('pypi_token').attempts[0]!.id}/log/stream`, { headers: { authorization: `Bearer ${server.admin}` } });
    const events = await stream.text();
    expect(events).toContain('it is ***');
    expect(events).not.toContain('value of PYPI_TOKEN');
    expect(task('deploy_key').status).toBe('failed');
    expect(task('deploy_key').attempts[0]!.error).toBe("step deploy_key lists secret DEPLOY_KEY, which a try does not get (the config's [secrets] try allows some)");
    expect(existsSync(join(out, 'DEPLOY_KEY'))).toBe(false);
  } finally {
    server.server.kill('SIGTERM');
    await server.server.result;
  }
  expect(processesUnder(box.dir.path)).toEqual([]);
});
