import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A temporary directory removed by the returned cleanup. It is made when its path is first
 * read: a suite's body runs even when a filter (`-t`) skips all its tests, and its hooks,
 * the cleanup among them, then do not.
 */
export function tempDir(prefix = 'slipway-test-'): { readonly path: string; remove: () => void } {
  let made: string | undefined;
  return {
    get path() {
      made ??= mkdtempSync(join(tmpdir(), prefix));
      return made;
    },
    remove: () => {
      if (made) rmSync(made, { recursive: true, force: true });
    },
  };
}
