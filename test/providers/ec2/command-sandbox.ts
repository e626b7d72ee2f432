import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, vi } from 'vitest';
import { tempDir } from '../../helpers/temp.ts';

/**
 * Runs each test of the file in a fresh directory with its own config and state, and
 * captures what commands print: `out` is the test's stdout. `mocks` are reset after each.
 */
export function useCommandSandbox(prefix: string, configText: string, mocks: { reset(): void }[]) {
  let dir: ReturnType<typeof tempDir> | undefined;
  let out = '';
  const saved = { ...process.env };

  beforeEach(() => {
    dir = tempDir(prefix);
    const config = join(dir.path, 'config.toml');
    writeFileSync(config, configText);
    Object.assign(process.env, { SLIPWAY_CONFIG: config, XDG_STATE_HOME: join(dir.path, 'state') });
    out = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out += String(chunk);
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });

  afterEach(() => {
    vi.restoreAllMocks();
    for (const mock of mocks) mock.reset();
    process.env = { ...saved };
    process.exitCode = undefined;
    dir?.remove();
  });

  return {
    get dir(): string {
      return dir!.path;
    },
    get out(): string {
      return out;
    },
    set out(printed: string) {
      out = printed;
    },
  };
}
