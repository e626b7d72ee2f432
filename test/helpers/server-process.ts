import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { machineMarker } from '../../src/agent/machine-marker.ts';
import { pidsByMarker } from '../../src/agent/process-tree.ts';
import type { CliResult, Sandbox } from './cli.ts';
import { waitFor } from './processes.ts';

/** A port that was free a moment ago: a server restarted on it is found by its agents again. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/**
 * `slipway server` in the sandbox, once it listens; `admin` is its admin token, `output()` what it printed. Port 0 (the
 * default) lets the system choose, so no other process can take the port first; a server
 * restarted on the port of an earlier one is found by that one's agents again. `env` adds
 * to the server's environment (how its git reaches an ssh remote, say).
 */
export async function startServer(box: Sandbox, port = 0, flags: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const server = box.spawn(['server', '--listen', `127.0.0.1:${port}`, ...flags], env);
  let stdout = '';
  let stderr = '';
  server.stdout!.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  server.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  let ended: CliResult | undefined;
  void server.result.then((result) => { ended = result; });
  await waitFor(() => {
    if (ended) throw new Error(`slipway server exited with ${ended.code} before it listened: ${ended.stderr}`);
    return /admin token/.test(stdout);
  }, 30_000, 'the server to print that it listens');
  const url = stdout.match(/listening on (http:\/\/\S+)/)![1]!;
  const admin = readFileSync(join(box.state, 'slipway', 'admin.token'), 'utf8').trim();
  /** What the server printed so far, for a failure to show. */
  const output = () => `${stdout}${stderr}`;
  return { server, url, admin, port: Number(new URL(url).port), output };
}

/** Pids of running agents whose machine lives under `workRoot` (found by their marker, as the provider finds them). */
export function agentPids(workRoot: string): number[] {
  return [...pidsByMarker(machineMarker, (machine) => machine.startsWith(`${workRoot}/`)).keys()].filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('slipway-agent');
    } catch {
      return false; // gone meanwhile
    }
  });
}
