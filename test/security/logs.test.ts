import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import { Sandbox } from '../helpers/cli.ts';
import { startServer } from '../helpers/server-process.ts';

/** The server's log cap in this test, set in its config. */
const cap = 1024 * 1024;
/** The flood task's output: 3 MiB of numbered 64-byte lines, three times the cap. */
const lines = 3 * 16 * 1024;
const lineOf = (n: number) => `${String(n).padStart(63, '0')}\n`;
const flood = lines * 64;

const markerOf = (dropped: number) => `[slipway: log truncated at 1 MiB (server.max_log_bytes); ${dropped} bytes dropped]\n`;

describe('logs on a real server', () => {
  const box = new Sandbox();
  let server: Awaited<ReturnType<typeof startServer>>['server'];
  let url = '';
  let admin = '';
  let report: RunReport;
  const logPath = (attempt: string) => join(box.state, 'slipway', 'logs', report.run.id, 'attempts', `${attempt}.log`);
  const attemptOf = (step: string) => report.tasks.find((t) => t.id === step)!.attempts[0]!;
  const fetchLog = (path: string, range?: string) => fetch(`${url}${path}`, { headers: { authorization: `Bearer ${admin}`, ...(range && { range }) } });

  beforeAll(async () => {
    mkdirSync(join(box.config, 'slipway'), { recursive: true });
    writeFileSync(join(box.config, 'slipway', 'config.toml'), `[server]\nmax_log_bytes = ${cap}\n`);
    ({ server, url, admin } = await startServer(box));
    const file = box.write({
      'slipway.yml': `
name: logs
activities:
  builder: { max_workers: 1 }
steps:
  flood:
    retry: { attempts: 1 }
    run: |
      printf '%063d\\n' $(seq 1 ${lines})
      echo flood done
  quiet:
    needs: [flood]
    run: echo a quiet task
`,
    });
    const result = await box.run(['run', file, '--json', '--server', url], { SLIPWAY_TOKEN: admin });
    expect(result.code, result.stderr).toBe(0);
    report = JSON.parse(result.stdout) as RunReport;
  });

  afterAll(async () => {
    server.kill('SIGTERM');
    await server.result;
    box.cleanup();
  });

  it('keeps the cap of a log and drops the rest with one line saying so; the task still succeeds', async () => {
    expect(report.tasks.map((t) => [t.id, t.status])).toEqual([['flood', 'succeeded'], ['quiet', 'succeeded']]);
    const attempt = attemptOf('flood');
    const marker = markerOf(flood + 'flood done\n'.length - cap);
    const text = readFileSync(logPath(attempt.id), 'utf8');
    expect(statSync(logPath(attempt.id)).size).toBe(cap + marker.length);
    expect(text).toBe(Array.from({ length: cap / 64 }, (_, i) => lineOf(i + 1)).join('') + marker);
    expect(await (await fetchLog(`/api/v1/attempts/${attempt.id}/log`)).text()).toBe(text);

    // The worker's log takes every task's output too: it is held to the same cap.
    const worker = await fetchLog(`/api/v1/workers/${attempt.worker}/log`);
    const workerLog = await worker.text();
    const workerMarker = /\n\[slipway: log truncated at 1 MiB \(server\.max_log_bytes\); \d+ bytes dropped\]\n$/.exec(workerLog)?.[0];
    expect(workerMarker).toBeDefined();
    expect(Buffer.byteLength(workerLog)).toBeLessThanOrEqual(cap + workerMarker!.length);
    expect(workerLog).not.toContain('a quiet task');
  });
});
