/**
 * The clients of http-queue-floor.ts: COUNT loops, each on a kept-alive connection of the
 * agents' own kind, that report the job they ended and take the next in one request until
 * none is left. Prints a ClientsReport.
 */
import { HttpConnection } from '../src/agent/http-request.ts';
import type { ClientsReport } from './http-queue-floor.ts';
import { machineMs } from './machine-clock.ts';

const [server, countText] = process.argv.slice(2);
if (!server || !countText) throw new Error('usage: http-queue-clients.ts SERVER COUNT');

let first = Infinity;
let last = 0;
let jobs = 0;
const cpuBefore = process.cpuUsage();
await Promise.all(Array.from({ length: Number(countText) }, async () => {
  const connection = new HttpConnection(server);
  let ended: number | null = null;
  try {
    for (;;) {
      const answer = await connection.send('POST', '/next', { 'content-type': 'application/json' }, JSON.stringify({ ended }));
      if (answer.status !== 200) throw new Error(`the floor's server answered ${answer.status}: ${answer.body}`);
      const now = machineMs();
      const { id } = JSON.parse(answer.body) as { id: number | null };
      if (ended !== null) last = Math.max(last, now);
      if (id === null) return;
      first = Math.min(first, now);
      jobs++;
      ended = id;
    }
  } finally {
    connection.close();
  }
}));
const cpu = process.cpuUsage(cpuBefore);
const report: ClientsReport = { first, last, jobs, cpu_ms: (cpu.user + cpu.system) / 1000 };
process.stdout.write(`${JSON.stringify(report)}\n`);
