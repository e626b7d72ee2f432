import { lstatSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** Removes a file or directory (unless `dryRun`); returns the bytes of the files it held. */
export function removeTree(path: string, dryRun: boolean): number {
  const bytes = bytesUnder(path);
  if (!dryRun) rmSync(path, { recursive: true, force: true });
  return bytes;
}

/** Links are counted as themselves, never followed: an unpacked tree is someone else's files. */
function bytesUnder(path: string): number {
  const stat = lstatSync(path, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, name) => sum + bytesUnder(join(path, name)), 0);
}
