/** GNU tar, as the coordinator packs a run's source tree and coordinator and agent unpack it. */
import { spawn } from 'node:child_process';
import { resolve as absolute } from 'node:path';

/**
 * Unpacks a checked archive into `dir`. Paths are made absolute so tar never reads one
 * as an option or as `host:file` (a remote archive); owners and set-id modes are not kept.
 */
export function unpack(archive: string, dir: string): Promise<void> {
  return runTar(['--extract', '--gzip', `--file=${absolute(archive)}`, `--directory=${absolute(dir)}`, '--no-same-owner', '--no-same-permissions']);
}

/** Runs tar with `args`; rejects with its stderr when it fails. */
export function runTar(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    tar.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    tar.on('error', reject);
    tar.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`tar exited with ${code}: ${stderr.trim()}`))));
  });
}
