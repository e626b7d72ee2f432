import { spawn } from 'node:child_process';
import { Hono } from 'hono';
import { listen } from '../src/api/http-server.ts';
if (process.argv[2] === 'client') {
  const url = process.argv[3]!; const n = 10000; let done = 0;
  const body = JSON.stringify({ outcome: 'succeeded', exit_code: 0, error: null, claim_next: true });
  await Promise.all(Array.from({ length: 8 }, async () => { while (done < n) { done++; const r = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', authorization: 'Bearer abcdefghijklmnopqrstuvwxyz' } }); await r.json(); } }));
} else {
  const big = { attempt: { id: 'a-123456789012', kind: 'run', number: 1, run: 'r-12345678', task: 'noop[n=1234]', step: 'noop', script: { kind: 'inline', text: 'true' }, env: { N: '1234', SLIPWAY_RUN: 'r-12345678', SLIPWAY_TASK: 'noop[n=1234]', SLIPWAY_STEP: 'noop', SLIPWAY_ATTEMPT: '1', SLIPWAY_WORKER: 'w-12345678' }, timeout_ms: null }, name: 'wa-1-noop[n=1234]' };
  const variant = process.argv[2];
  const app = new Hono().post('/x', async (c) => {
    if (variant === 'text') await c.req.text();
    if (variant === 'signal') { await c.req.text(); void c.req.raw.signal; }
    return c.json(big);
  });
  const l = await listen(app, '127.0.0.1', 0);
  const cpu0 = process.cpuUsage(); const t0 = performance.now();
  const child = spawn(process.execPath, [process.argv[1]!, 'client', `${l.url}/x`], { stdio: 'inherit' });
  await new Promise((r) => child.on('exit', r));
  const cpu = process.cpuUsage(cpu0);
  console.log(`${variant}: ${Math.round(10000 / ((performance.now() - t0) / 1000))} req/s, server cpu ${((cpu.user + cpu.system) / 10000).toFixed(0)} us/req (user ${(cpu.user / 10000).toFixed(0)}, sys ${(cpu.system / 10000).toFixed(0)})`);
  await l.close();
}
