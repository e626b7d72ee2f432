import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { machineMarker } from '../../src/agent/machine-marker.ts';
import { pidsByMarker } from '../../src/agent/process-tree.ts';
import { Sandbox } from '../helpers/cli.ts';
import { waitFor } from '../helpers/processes.ts';

describe.skipIf(process.getuid?.() !== 0)('slipway purge --provider local after a root server whose state its workers cannot enter', () => {
  const box = new Sandbox();
  // A state directory under one only root may enter, as root's own is under /root.
  const env = { XDG_STATE_HOME: join(box.dir.path, 'closed', 'state') };
  let workRoot = '';
  afterAll(() => {
    if (workRoot !== '') {
      for (const pid of pidsByMarker(machineMarker, (value) => value.startsWith(`${workRoot}/`)).keys()) process.kill(pid, 'SIGKILL');
      rmSync(workRoot, { recursive: true, force: true });
    }
    box.cleanup();
  });

  it('finds the workers where the server put them, in the runner\'s home, and removes them', async () => {
    mkdirSync(env.XDG_STATE_HOME, { recursive: true, mode: 0o700 });
    const file = box.write({ 'slipway.yml': 'name: left\nactivities:\n  builder: {}\nsteps:\n  hold: { run: sleep 120 }\n' });
    const server = box.spawn(['server', '--listen', '127.0.0.1:0'], env);
    let stdout = '';
    server.stdout!.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    await waitFor(() => /admin token/.test(stdout) && /run as slipway-runner in/.test(stdout), 30_000, 'the server to say where its workers go');
    workRoot = stdout.match(/run as slipway-runner in (\S+)/)![1]!;
    expect(workRoot).toMatch(/^\/var\/lib\/slipway-runner\/workers-[0-9a-f]{12}$/);
    const url = stdout.match(/listening on (\S+)/)![1]!;
    const admin = readFileSync(join(env.XDG_STATE_HOME, 'slipway', 'admin.token'), 'utf8').trim();
    const follower = box.spawn(['run', file, '--server', url], { ...env, SLIPWAY_TOKEN: admin });
    await waitFor(() => pidsByMarker(machineMarker, (value) => value.startsWith(`${workRoot}/`)).size >= 2, 30_000, 'the task to run');
    // Gone without stopping its workers, as a crashed server is.
    server.kill('SIGKILL');
    follower.kill('SIGKILL');
    await server.result;

    const purged = await box.run(['purge', '--provider', 'local', '--yes', '--json'], env);
    expect(purged.code, purged.stderr).toBe(0);
    const results = (JSON.parse(purged.stdout) as { results: { kind: string; error: string }[] }).results;
    expect(results.filter((r) => r.kind === 'process' || r.kind === 'work-dir').map((r) => [r.kind, r.error])).toEqual([['process', ''], ['work-dir', '']]);
    expect(pidsByMarker(machineMarker, (value) => value.startsWith(`${workRoot}/`)).size).toBe(0);
    expect(readdirSync(workRoot)).toEqual([]);
    const again = JSON.parse((await box.run(['purge', '--provider', 'local', '--dry-run', '--json'], env)).stdout) as { resources: unknown[] };
    expect(again.resources).toEqual([]);
  });
});
