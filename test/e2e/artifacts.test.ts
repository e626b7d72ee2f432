import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import type { Artifact } from '../../src/store/artifacts.ts';
import { Sandbox } from '../helpers/cli.ts';
import { processesUnder } from '../helpers/processes.ts';

/** Every file under `dir`, relative to it, with its text. */
function filesUnder(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) files[relative(dir, join(entry.parentPath, entry.name))] = readFileSync(join(entry.parentPath, entry.name), 'utf8');
  }
  return files;
}

describe('artifacts', () => {
  const box = new Sandbox();
  afterAll(() => box.cleanup());

  it('are kept after a success, handed to the tasks that need them, listed and downloaded', async () => {
    const out = box.sharedDir('out');
    const file = box.write({
      'slipway.yml': `
name: packages
matrix:
  version: ["1.0", "2.0"]
activities:
  builder: { max_workers: 2 }
steps:
  build:
    over: [version]
    run: |
      mkdir -p dist/docs
      echo "package $VERSION" > "dist/pkg-$VERSION.tar"
      echo "manual of $VERSION" > dist/docs/manual.txt
      echo "not kept" > scratch.txt
    artifacts: [dist/*.tar, dist/docs]
  publish:
    needs: [build]
    env: { OUT: ${out} }
    run: cd "$SLIPWAY_INPUTS" && find . -type f | sort > "$OUT/inputs" && cat */dist/*.tar > "$OUT/published"
`,
    });
    const run = await box.run(['run', file, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as RunReport;

    // The publishing task found each build's files under its task id, and nothing it did not keep.
    expect(readFileSync(join(out, 'inputs'), 'utf8').split('\n').filter(Boolean)).toEqual([
      './build[version=1.0]/dist/docs/manual.txt', './build[version=1.0]/dist/pkg-1.0.tar',
      './build[version=2.0]/dist/docs/manual.txt', './build[version=2.0]/dist/pkg-2.0.tar',
    ]);
    expect(readFileSync(join(out, 'published'), 'utf8')).toBe('package 1.0\npackage 2.0\n');

    const listed = await box.run(['artifacts', report.run.id, '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const artifacts = JSON.parse(listed.stdout) as Artifact[];
    expect(artifacts.map((a) => `${a.task} ${a.path} ${a.size}`)).toEqual([
      'build[version=1.0] dist/docs/manual.txt 14', 'build[version=1.0] dist/pkg-1.0.tar 12',
      'build[version=2.0] dist/docs/manual.txt 14', 'build[version=2.0] dist/pkg-2.0.tar 12',
    ]);
    const tar = artifacts.find((a) => a.path === 'dist/pkg-2.0.tar')!;
    expect(tar.sha256).toBe(createHash('sha256').update('package 2.0\n').digest('hex'));
    // Kept for [retention] artifacts (30 days by default) from when it was made.
    expect(tar).toMatchObject({ content_type: 'application/x-tar', expires_at: tar.created_at + 30 * 24 * 3600_000 });

    const table = await box.run(['artifacts', report.run.id.slice(0, 6), 'version=2.0']);
    expect(table.stdout).toMatch(/^TASK +PATH +SIZE +SHA256\nbuild\[version=2\.0\] +dist\/docs\/manual\.txt +14 B +[0-9a-f]{12}\nbuild\[version=2\.0\] +dist\/pkg-2\.0\.tar +12 B +[0-9a-f]{12}\n$/);
    expect((await box.run(['artifacts', report.run.id, 'publish'])).stdout).toBe(`task publish of run ${report.run.id} kept no artifacts\n`);

    const downloads = join(box.dir.path, 'downloads');
    const downloaded = await box.run(['artifacts', report.run.id, '--download', downloads]);
    expect(downloaded.code, downloaded.stderr).toBe(0);
    expect(downloaded.stderr).toBe(`downloaded 4 files (52 B) to ${downloads}\n`);
    expect(filesUnder(downloads)).toEqual({
      'build[version=1.0]/dist/docs/manual.txt': 'manual of 1.0\n', 'build[version=1.0]/dist/pkg-1.0.tar': 'package 1.0\n',
      'build[version=2.0]/dist/docs/manual.txt': 'manual of 2.0\n', 'build[version=2.0]/dist/pkg-2.0.tar': 'package 2.0\n',
    });
    expect(processesUnder(box.dir.path)).toEqual([]);
    // The workers' directories (their copies of the tree, their inputs) went with them.
    expect(readdirSync(join(box.state, 'slipway', 'workers'))).toEqual([]);
  });

  it('fail the attempt, saying which, when a declared one is missing or is a link out of the tree', async () => {
    const file = box.write({
      'slipway.yml': `
name: missing
activities:
  builder: { max_workers: 2 }
steps:
  wheel:
    retry: { attempts: 1 }
    run: mkdir -p dist && echo x > dist/readme.txt
    artifacts: [dist/readme.txt, dist/*.whl]
  linked:
    retry: { attempts: 1 }
    run: mkdir -p dist && ln -s /etc/passwd dist/passwd
    artifacts: [dist/passwd]
`,
    });
    const run = await box.run(['run', file, '--json']);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as RunReport;
    const errors = Object.fromEntries(report.tasks.map((t) => [t.id, t.attempts.map((a) => a.error)]));
    expect(errors).toEqual({
      wheel: ["artifact dist/*.whl: no file matches it in the task's tree"],
      linked: ['artifact dist/passwd is a symbolic link: only regular files are kept'],
    });
    // Nothing of a failed attempt is kept, not even the file it did make.
    expect((await box.run(['artifacts', report.run.id, '--json'])).stdout).toBe('[]\n');
  });
});
