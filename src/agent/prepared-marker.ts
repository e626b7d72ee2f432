import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive } from './process-tree.ts';

const fingerprintPattern = /^[0-9a-f]{64}$/;
const pollMs = 250;

/**
 * Runs a machine's prepare script once per fingerprint. A marker file records that it
 * succeeded (an image baked after it carries the marker too); workers starting together on
 * one machine take a lock directory, and the others wait for the marker. A lock whose
 * holder died is taken over.
 */
export async function ensurePrepared(dir: string, fingerprint: string, prepare: () => Promise<boolean>, signal: AbortSignal): Promise<'already' | 'prepared' | 'failed'> {
  if (!fingerprintPattern.test(fingerprint)) throw new Error(`not a prepare fingerprint: ${fingerprint.slice(0, 80)}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const marker = join(dir, fingerprint);
  const lock = `${marker}.lock`;
  for (;;) {
    if (existsSync(marker)) return 'already';
    if (signal.aborted) return 'failed';
    if (take(lock)) {
      try {
        if (existsSync(marker)) return 'already';
        if (!(await prepare())) return 'failed';
        writeFileSync(marker, `${new Date().toISOString()}\n`, { mode: 0o600 });
        return 'prepared';
      } finally {
        rmSync(lock, { recursive: true, force: true });
      }
    }
    if (holderGone(lock)) rmSync(lock, { recursive: true, force: true });
    await sleep(pollMs);
  }
}

function take(lock: string): boolean {
  try {
    mkdirSync(lock, { mode: 0o700 });
  } catch {
    return false;
  }
  writeFileSync(join(lock, 'pid'), String(process.pid));
  return true;
}

function holderGone(lock: string): boolean {
  try {
    const pid = Number(readFileSync(join(lock, 'pid'), 'utf8'));
    return Number.isInteger(pid) && pid > 0 && !isAlive(pid);
  } catch {
    return false; // being written, or just released
  }
}
