/**
 * Warm workers for the dispatch benchmark: real agents speaking the real protocol, whose
 * executor returns at once instead of starting bash, so what is measured is dispatch.
 * Prints one JSON line: when each attempt reached its worker (machineMs), and the CPU time
 * the agents took meanwhile (ms).
 */
import { Agent, type Executor } from '../src/agent/agent.ts';
import { machineMs } from './machine-clock.ts';

const [server, activity, countText] = process.argv.slice(2);
const token = process.env.SLIPWAY_TOKEN;
if (!server || !activity || !countText || !token) throw new Error('usage: warm-agents.ts SERVER ACTIVITY COUNT (SLIPWAY_TOKEN set)');

const started: Record<string, number> = {};
const noop: Executor = {
  prepare: async () => undefined,
  run: async (job) => {
    started[job.env.SLIPWAY_TASK ?? job.name] = machineMs();
    return { outcome: 'succeeded', exitCode: 0, signal: null, error: null, scriptMs: 0 };
  },
};

const cpuBefore = process.cpuUsage();
const agents = Array.from({ length: Number(countText) }, () => new Agent({ server, token, activity, executor: noop }));
await Promise.all(agents.map((agent) => agent.run()));
const cpu = process.cpuUsage(cpuBefore);
process.stdout.write(`${JSON.stringify({ started, cpu_ms: (cpu.user + cpu.system) / 1000 })}\n`);
