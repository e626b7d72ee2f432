import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { machineMarker } from '../../src/agent/machine-marker.ts';
import { pidsByMarker } from '../../src/agent/process-tree.ts';
import type { Sandbox } from './cli.ts';
import { waitFor } from './processes.ts';

/** A port that was free a moment ago: a server restarted on it is found by its agents again. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** `slipway server` in the sandbox, once it listens; `admin` is its admin token. */
export async function startServer(box: Sandbox, port: number, flags: string[] = []) {
  const server = box.spawn(['server', '--listen', `127.0.0.1:${port}`, ...flags]);
  let stdout = '';
  server.stdout!.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  await waitFor(() => /listening on (\S+)/.test(stdout) && /admin token/.test(stdout), 20_000, 'the server to listen');
  const admin = readFileSync(join(box.state, 'slipway', 'admin.token'), 'utf8').trim();
  return { server, url: `http://127.0.0.1:${port}`, admin };
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
