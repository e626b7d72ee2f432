import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ensurePrepared } from '../../src/agent/prepared-marker.ts';
import { tempDir } from '../helpers/temp.ts';

const fingerprint = 'a'.repeat(64);
const never = new AbortController().signal;

describe('preparing a machine once per fingerprint', () => {
  let dir: ReturnType<typeof tempDir>;
  afterEach(() => dir.remove());

  it('runs the script once for workers starting together, and not again', async () => {
    dir = tempDir();
    let runs = 0;
    const prepare = async () => { runs++; await sleep(300); return true; };
    const results = await Promise.all([1, 2, 3].map(() => ensurePrepared(dir.path, fingerprint, prepare, never)));
    expect(results.sort()).toEqual(['already', 'already', 'prepared']);
    expect(await ensurePrepared(dir.path, fingerprint, prepare, never)).toBe('already');
    expect(runs).toBe(1);
    expect(existsSync(join(dir.path, fingerprint))).toBe(true);
  });

  it('leaves no marker when the script fails, so the next worker tries again', async () => {
    dir = tempDir();
    expect(await ensurePrepared(dir.path, fingerprint, async () => false, never)).toBe('failed');
    expect(existsSync(join(dir.path, fingerprint))).toBe(false);
    expect(await ensurePrepared(dir.path, fingerprint, async () => true, never)).toBe('prepared');
  });

  it('takes over the lock of a worker that died while preparing', async () => {
    dir = tempDir();
    mkdirSync(join(dir.path, `${fingerprint}.lock`), { recursive: true });
    writeFileSync(join(dir.path, `${fingerprint}.lock`, 'pid'), '999999999');
    expect(await ensurePrepared(dir.path, fingerprint, async () => true, never)).toBe('prepared');
  });

  it('refuses a fingerprint that is not a sha256', async () => {
    dir = tempDir();
    await expect(ensurePrepared(dir.path, '../../etc', async () => true, never)).rejects.toThrow('not a prepare fingerprint');
  });
});
