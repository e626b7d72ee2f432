import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Sandbox } from '../helpers/cli.ts';
import { processesUnder, waitFor } from '../helpers/processes.ts';
import { startServer } from '../helpers/server-process.ts';

describe('slipway server, stopped', () => {
  const box = new Sandbox();
  afterAll(() => box.cleanup());

  // SIGHUP: the terminal it was started in closed.
  it.each(['SIGTERM', 'SIGHUP'] as const)('on %s, waits for the workers of finished runs to end their cleanup, and leaves no process behind', async (signal) => {
    const out = box.sharedDir(`out-${signal}`);
    // The cleanup runs until the test says "go": the server is stopped while it is under way.
    const file = box.write({
      'slipway.yml': `
name: stopped
activities:
  builder: { cleanup: 'touch ${out}/cleaning; while [ ! -e ${out}/go ]; do sleep 0.05; done; touch ${out}/cleaned' }
steps:
  build: { activity: builder, run: echo built }
`,
    });
    const { server, url, admin } = await startServer(box);
    const run = await box.run(['run', file, '--server', url, '--json'], { SLIPWAY_TOKEN: admin });
    expect(run.code, run.stderr).toBe(0);
    await waitFor(() => existsSync(join(out, 'cleaning')), 20_000, 'the worker to start its cleanup');

    let stdout = '';
    server.stdout!.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    server.kill(signal);
    await waitFor(() => stdout.includes('stopping'), 10_000, 'the server to say it stops');
    writeFileSync(join(out, 'go'), '');
    expect((await server.result).code).toBe(0);
    expect(existsSync(join(out, 'cleaned'))).toBe(true);
    expect(processesUnder(box.dir.path)).toEqual([]);
  });
});
