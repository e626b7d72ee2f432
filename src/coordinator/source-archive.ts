import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { newId } from '../util/ids.ts';

/**
 * A run's source tree as one archive, named by its content, so workers fetch and cache it
 * once per revision and remote machines need no access to the repository.
 */
export async function packSource(sourceDir: string, archivesDir: string): Promise<string> {
  mkdirSync(archivesDir, { recursive: true, mode: 0o700 });
  const partial = join(archivesDir, `${newId('a')}.partial`);
  try {
    await runTar(['--create', '--gzip', '--file', partial, '--exclude=.git', '--exclude=node_modules', '--directory', sourceDir, '.']);
    const digest = await sha256File(partial);
    const final = archivePath(archivesDir, digest);
    if (existsSync(final)) rmSync(partial);
    else renameSync(partial, final);
    return digest;
  } catch (error) {
    rmSync(partial, { force: true });
    throw new Error(`cannot pack the source tree ${sourceDir}: ${(error as Error).message}`);
  }
}

export function archivePath(archivesDir: string, digest: string): string {
  if (!/^[0-9a-f]{64}$/.test(digest)) throw new Error(`not a source digest: ${digest}`);
  return join(archivesDir, `${digest}.tar.gz`);
}

export function runTar(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    tar.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    tar.on('error', reject);
    tar.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`tar exited with ${code}: ${stderr.trim()}`))));
  });
}

function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path).on('data', (chunk) => hash.update(chunk)).on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}
