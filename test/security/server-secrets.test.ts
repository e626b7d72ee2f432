import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { Sandbox } from '../helpers/cli.ts';
import { processesUnder } from '../helpers/processes.ts';
import { startServer } from '../helpers/server-process.ts';

let box: Sandbox;
beforeEach(() => { box = new Sandbox(); });
afterEach(() => box.cleanup());

it("an admin sets a server's secrets through its API, a run's step there reads them, and no other token may touch them", async () => {
  const out = box.sharedDir('out');
  const value = 'server-side token value';
  const file = join(box.dir.path, 'value');
  writeFileSync(file, `${value}\n`);
  const server = await startServer(box);
  const on = (args: string[], token = server.admin) => box.run(['secrets', ...args, '--server', server.url, '--token', token]);
  try {
    expect(await on(['set', 'PYPI_TOKEN', '--file', file])).toMatchObject({ code: 0, stdout: `set secret PYPI_TOKEN on ${server.url}\n` });
    const listed = await on(['list', '--json']);
    expect((JSON.parse(listed.stdout) as { name: string }[]).map((s) => s.name)).toEqual(['PYPI_TOKEN']);
    expect(listed.stdout).not.toContain(value);
    expect(statSync(join(box.state, 'slipway', 'secrets.key')).mode & 0o777).toBe(0o600);

    const submit = (await box.run(['tokens', 'create', 'ci', '--scope', 'submit'])).stdout.trim();
    expect(await on(['set', 'PYPI_TOKEN', '--file', file], submit)).toMatchObject({ code: 2, stderr: expect.stringContaining('it needs the admin scope') });
    for (const [method, path] of [['GET', ''], ['POST', '/PYPI_TOKEN'], ['POST', '/PYPI_TOKEN/delete']] as const) {
      const answer = await fetch(`${server.url}/api/v1/secrets${path}`, { method, headers: { authorization: `Bearer ${submit}` }, ...(method === 'POST' && { body: '{"value":"a new value"}' }) });
      expect(answer.status, `${method} ${path}`).toBe(403);
    }

    const pipeline = box.write({ 'slipway.yml': `
name: publish
activities:
  box: {}
steps:
  upload:
    secrets: [PYPI_TOKEN]
    env: { OUT: ${JSON.stringify(out)} }
    run: printf '%s' "$PYPI_TOKEN" | sha256sum | cut -d' ' -f1 > "$OUT/seen"
` });
    const run = await box.run(['run', pipeline, '--server', server.url, '--json'], { SLIPWAY_TOKEN: server.admin });
    expect(run.code, run.stderr).toBe(0);
    expect(readFileSync(join(out, 'seen'), 'utf8').trim()).toBe(createHash('sha256').update(value).digest('hex'));

    expect(await on(['delete', 'PYPI_TOKEN'])).toMatchObject({ code: 0 });
    expect(JSON.parse((await on(['list', '--json'])).stdout)).toEqual([]);
    expect(await on(['delete', 'PYPI_TOKEN'])).toMatchObject({ code: 2, stderr: expect.stringContaining('no secret PYPI_TOKEN') });
  } finally {
    server.server.kill('SIGTERM');
    await server.server.result;
  }
  expect(processesUnder(box.dir.path)).toEqual([]);
});
