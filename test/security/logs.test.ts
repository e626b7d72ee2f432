import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import { repoRoot, Sandbox } from '../helpers/cli.ts';
import { waitFor } from '../helpers/processes.ts';
import { startServer } from '../helpers/server-process.ts';

const gib = 1024 * 1024 * 1024;
/** The server's log cap in this test, set in its config. */
const cap = 1024 * 1024;
/** The flood task's output: 3 MiB of numbered 64-byte lines, three times the cap. */
const lines = 3 * 16 * 1024;
const lineOf = (n: number) => `${String(n).padStart(63, '0')}\n`;
const flood = lines * 64;

const markerOf = (dropped: number) => `[slipway: log truncated at 1 MiB (server.max_log_bytes); ${dropped} bytes dropped]\n`;

/** Resident memory of a process, in bytes, from /proc/<pid>/status (VmRSS, VmHWM). */
function memory(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const kib = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!;
  return Number(kib) * 1024;
}

/** Reads a whole answer with node:http, keeping only its size and its first bytes. */
function readToEnd(url: string, token: string): Promise<{ status: number; bytes: number; head: string }> {
  return new Promise((resolve, reject) => {
    get(url, { headers: { authorization: `Bearer ${token}` }, agent: false }, (response) => {
      let bytes = 0;
      let head = '';
      response.on('data', (chunk: Buffer) => {
        if (head.length < 100) head += chunk.subarray(0, 100).toString('latin1');
        bytes += chunk.length;
      });
      response.on('end', () => resolve({ status: response.statusCode!, bytes, head }));
      response.on('error', reject);
    }).on('error', reject);
  });
}

/** A slow client: it takes the first bytes of an answer, then reads no more until it goes away. */
function holdOpen(url: string, token: string): Promise<{ status: number; head: string; leave: () => void }> {
  return new Promise((resolve, reject) => {
    const request = get(url, { headers: { authorization: `Bearer ${token}` }, agent: false }, (response) => {
      response.once('data', (chunk: Buffer) => {
        response.pause();
        resolve({ status: response.statusCode!, head: chunk.subarray(0, 100).toString('latin1'), leave: () => request.destroy() });
      });
      response.on('error', () => undefined); // it is the one that goes away
    });
    request.on('error', reject);
  });
}

/** How many files a process holds open at `path`. */
function openedAt(pid: number, path: string): number {
  return readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`) === path;
    } catch {
      return false; // closed meanwhile
    }
  }).length;
}

describe('logs on a real server', () => {
  const box = new Sandbox();
  let server: Awaited<ReturnType<typeof startServer>>['server'] | undefined;
  let url = '';
  let admin = '';
  let report: RunReport;
  const logPath = (attempt: string) => join(box.state, 'slipway', 'logs', report.run.id, 'attempts', `${attempt}.log`);
  const attemptOf = (step: string) => report.tasks.find((t) => t.id === step)!.attempts[0]!;
  /** A log as a worker could have made it before the cap: sparse, so it costs no disk. */
  const largeLog = (path: string) => {
    writeFileSync(path, 'the start of a large log\n');
    truncateSync(path, gib);
  };
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
    if (server) {
      server.kill('SIGTERM');
      await server.result;
    }
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
    const printed = await box.run(['logs', report.run.id, 'flood', '--server', url], { SLIPWAY_TOKEN: admin });
    expect(printed.stdout).toBe(`==> flood attempt 1 on ${attempt.worker}: succeeded <==\n${text}`);

    // The worker's log takes every task's output too: it is held to the same cap.
    const worker = await fetchLog(`/api/v1/workers/${attempt.worker}/log`);
    const workerLog = await worker.text();
    const workerMarker = /\n\[slipway: log truncated at 1 MiB \(server\.max_log_bytes\); \d+ bytes dropped\]\n$/.exec(workerLog)?.[0];
    expect(workerMarker).toBeDefined();
    expect(Buffer.byteLength(workerLog)).toBeLessThanOrEqual(cap + workerMarker!.length);
    expect(workerLog).not.toContain('a quiet task');
  });

  it('answers ranges of a log with their bytes, 206 and Content-Range; 416 past its end; 400 for a range it does not serve', async () => {
    const attempt = attemptOf('flood');
    const text = readFileSync(logPath(attempt.id), 'latin1');
    const size = text.length;
    const path = `/api/v1/attempts/${attempt.id}/log`;

    const whole = await fetchLog(path);
    expect([whole.status, whole.headers.get('accept-ranges'), whole.headers.get('content-length')]).toEqual([200, 'bytes', String(size)]);
    await whole.body?.cancel();

    for (const [range, start, end] of [['bytes=0-9', 0, 9], ['bytes=1000-', 1000, size - 1], ['bytes=-20', size - 20, size - 1], [`bytes=${size - 5}-${size + 100}`, size - 5, size - 1], [`bytes=100-100`, 100, 100]] as const) {
      const answer = await fetchLog(path, range);
      expect([range, answer.status, answer.headers.get('content-range')]).toEqual([range, 206, `bytes ${start}-${end}/${size}`]);
      expect(Buffer.from(await answer.arrayBuffer()).toString('latin1')).toBe(text.slice(start, end + 1));
    }

    for (const range of [`bytes=${size}-`, `bytes=${size + 10}-${size + 20}`, 'bytes=-0']) {
      const answer = await fetchLog(path, range);
      expect([range, answer.status, answer.headers.get('content-range')]).toEqual([range, 416, `bytes */${size}`]);
      expect(await answer.json()).toEqual({ error: `Range: not within the ${size} bytes there are` });
    }

    for (const [range, error] of [
      ['bytes=9-2', 'Range: bytes=9-2 ends before it starts'],
      ['bytes=0-1,5-9', 'Range: expected bytes=START-, bytes=START-END or bytes=-LENGTH (one range), got "bytes=0-1,5-9"'],
      ['bytes=x-', 'Range: expected bytes=START-, bytes=START-END or bytes=-LENGTH (one range), got "bytes=x-"'],
    ]) {
      const answer = await fetchLog(path, range);
      expect([range, answer.status, await answer.json()]).toEqual([range, 400, { error }]);
    }

    // A worker's log the same way.
    const worker = await fetchLog(`/api/v1/workers/${attempt.worker}/log`, 'bytes=0-9');
    expect([worker.status, await worker.text()]).toEqual([206, (await (await fetchLog(`/api/v1/workers/${attempt.worker}/log`)).text()).slice(0, 10)]);
  });

  it('follows a finished log of many MiB to its end over server-sent events, and resumes from the id of an event', async () => {
    const attempt = attemptOf('quiet');
    const text = Array.from({ length: 5 * 16 * 1024 }, (_, i) => lineOf(i + 1)).join('');
    writeFileSync(logPath(attempt.id), text);
    const follow = async (lastEventId?: string) => {
      const answer = await fetch(`${url}/api/v1/attempts/${attempt.id}/log/stream`, {
        headers: { authorization: `Bearer ${admin}`, ...(lastEventId !== undefined && { 'last-event-id': lastEventId }) },
      });
      // The stream ends after its `end` event.
      const events = (await answer.text()).split('\n\n').filter((block) => block.startsWith('event: '));
      const logs = events.filter((block) => block.startsWith('event: log\n'));
      return {
        status: answer.status,
        last: events.at(-1),
        text: logs.map((block) => (JSON.parse(/^data: (.*)$/m.exec(block)![1]!) as { text: string }).text).join(''),
        ids: logs.map((block) => Number(/^id: (\d+)$/m.exec(block)?.[1])),
      };
    };
    const whole = await follow();
    expect(whole.text).toBe(text);
    expect([whole.last, whole.ids.at(-1)]).toEqual(['event: end\ndata: {}', text.length]);
    const resumed = await follow(String(whole.ids[1]));
    expect(resumed.text).toBe(text.slice(whole.ids[1]));
    expect((await follow('-1')).status).toBe(400);
  });

  it('streams a 1 GiB log to a reader while three slow ones hold it open, without the server\'s memory growing', async () => {
    const attempt = attemptOf('quiet');
    const path = logPath(attempt.id);
    const logUrl = `${url}/api/v1/attempts/${attempt.id}/log`;
    largeLog(path);
    const pid = server!.pid!;
    const before = memory(pid, 'VmRSS');
    writeFileSync(`/proc/${pid}/clear_refs`, '5'); // VmHWM counts from here

    // Slow clients are where a server that reads ahead, or reads whole, keeps a log in memory.
    const slow = await Promise.all([1, 2, 3].map(() => holdOpen(logUrl, admin)));
    const full = await readToEnd(logUrl, admin);
    const peak = memory(pid, 'VmHWM');
    for (const reader of [...slow, full]) {
      expect(reader.status).toBe(200);
      expect(reader.head.startsWith('the start of a large log\n\0\0')).toBe(true);
    }
    expect(full.bytes).toBe(gib);
    expect(peak - before, `the server grew from ${before >> 20} MiB to ${peak >> 20} MiB`).toBeLessThan(150 * 1024 * 1024);

    // Clients that go away, and HEAD requests, leave no open file behind.
    const head = await fetch(logUrl, { method: 'HEAD', headers: { authorization: `Bearer ${admin}` } });
    expect([head.status, head.headers.get('content-length'), await head.text()]).toEqual([200, String(gib), '']);
    expect(openedAt(pid, path)).toBe(3);
    for (const reader of slow) reader.leave();
    await waitFor(() => openedAt(pid, path) === 0, 10_000, 'the server to close the log of readers that went away');

    const tail = await fetchLog(`/api/v1/attempts/${attempt.id}/log`, `bytes=${gib - 4}-`);
    expect([tail.status, tail.headers.get('content-range'), [...new Uint8Array(await tail.arrayBuffer())]]).toEqual([206, `bytes ${gib - 4}-${gib - 1}/${gib}`, [0, 0, 0, 0]]);
  });

  it('prints a 1 GiB log with slipway logs, passing it on as it is read', async () => {
    const attempt = attemptOf('quiet');
    largeLog(logPath(attempt.id));
    // Not box.run, which would keep the whole output as a string.
    const cli = spawn(process.execPath, [join(repoRoot, 'src/cli/main.ts'), 'logs', report.run.id, 'quiet'], { env: box.env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let printed = 0;
    let stderr = '';
    cli.stdout.on('data', (chunk: Buffer) => { printed += chunk.length; });
    cli.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const code = await new Promise((resolve) => cli.on('close', resolve));
    expect([code, stderr, printed]).toEqual([0, '', `==> quiet attempt 1 on ${attempt.worker}: succeeded <==\n`.length + gib]);
  });
});
