import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import { Sandbox } from '../helpers/cli.ts';
import { processesUnder } from '../helpers/processes.ts';

describe('step caches', () => {
  const box = new Sandbox();
  afterAll(() => box.cleanup());

  /** Runs the pipeline; its one task's log, with the lines of the cache and of the script. */
  async function run(file: string): Promise<string[]> {
    const result = await box.run(['run', file, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as RunReport;
    const logs = await box.run(['logs', report.run.id, 'deps']);
    return logs.stdout.split('\n').filter((line) => /^(cache|deps):/.test(line)).map((line) => line.replace(/[0-9a-f]{64}/g, 'HASH'));
  }

  it('are restored before the script, saved after a success on a miss, and found by a restore key when the key moved', async () => {
    const file = box.write({
      'lock.txt': 'left-pad 1.0\n',
      'slipway.yml': `
name: cached
activities:
  builder: { max_workers: 1 }
steps:
  deps:
    run: |
      if [ -f deps/installed ]; then echo "deps: from the cache, $(cat deps/installed)"; else
        mkdir -p deps/lib && cat lock.txt > deps/installed && echo "deps: installed $(cat lock.txt)"; fi
    cache:
      key: "deps-{{ hashFiles('lock.txt') }}"
      paths: [deps, not-made]
      restore_keys: [deps-]
`,
    });
    expect(await run(file)).toEqual([
      'cache: no entry for deps-HASH',
      'deps: installed left-pad 1.0',
      expect.stringMatching(/^cache: saved deps-HASH \(\d+ B\)$/),
    ]);
    // The same lock file: the entry as saved, and nothing saved again.
    expect(await run(file)).toEqual([
      expect.stringMatching(/^cache: restored deps-HASH \(\d+ B\)$/),
      'deps: from the cache, left-pad 1.0',
    ]);
    // Another lock file: the newest entry under the restore key, then the new key saved.
    writeFileSync(join(box.source, 'lock.txt'), 'left-pad 2.0\n');
    const moved = await run(file);
    expect(moved).toEqual([
      expect.stringMatching(/^cache: restored deps-HASH for deps-HASH \(\d+ B\)$/),
      'deps: from the cache, left-pad 1.0',
      expect.stringMatching(/^cache: saved deps-HASH \(\d+ B\)$/),
    ]);
    expect((await run(file))[0]).toMatch(/^cache: restored deps-HASH \(\d+ B\)$/);
    expect(processesUnder(box.dir.path)).toEqual([]);
  });
});
