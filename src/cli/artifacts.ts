import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { Artifact } from '../store/artifacts.ts';
import { writeHashed } from '../util/hashed-write.ts';
import { taskDirName } from '../util/task-dir-name.ts';
import { printable, table } from './format.ts';
import { findTask } from './logs.ts';
import { openRunSource, type RunSource, type SourceOptions } from './run-source.ts';
import { byteSize } from '../util/byte-size.ts';
import { readingOptions } from './show.ts';
import { UsageError } from './usage-error.ts';

interface ArtifactsOptions extends SourceOptions { json?: boolean; download?: string }

export function registerArtifacts(program: Command): void {
  readingOptions(program.command('artifacts')
    .description('list the files a run\'s tasks kept (a step\'s `artifacts:`), or download them')
    .argument('<run>', 'a run id, or a unique prefix of one')
    .argument('[task]', 'only this task\'s (its id, or a unique part of one)')
    .option('--json', 'print the list as JSON: task, path, size, sha256, content_type, created_at, expires_at')
    .option('--download <dir>', 'save them as DIR/<task id>/<path> (a / or % in a task id is percent-encoded), each checked against its sha256'))
    .addHelpText('after', `
Examples:
  slipway artifacts r-3f2a                              every file the run's tasks kept
  slipway artifacts r-3f2a 'build[version=1.0.0]' --download out
  slipway artifacts r-3f2a --json | jq -r '.[].path'`)
    .action(async (run: string, task: string | undefined, options: ArtifactsOptions) => {
      const source = await openRunSource(options);
      try {
        const runId = await source.resolveRun(run);
        const taskId = task === undefined ? undefined : findTask(await source.report(runId), task).id;
        const artifacts = await source.artifacts(runId, taskId);
        if (options.download !== undefined) {
          await download(source, runId, artifacts, resolve(options.download));
          const total = artifacts.reduce((sum, a) => sum + a.size, 0);
          process.stderr.write(`downloaded ${artifacts.length} file${artifacts.length === 1 ? '' : 's'} (${byteSize(total)}) to ${options.download}\n`);
        }
        if (options.json) process.stdout.write(`${JSON.stringify(artifacts, null, 2)}\n`);
        else if (options.download === undefined) process.stdout.write(listing(runId, taskId, artifacts));
      } finally {
        await source.close();
      }
    });
}

function listing(runId: string, taskId: string | undefined, artifacts: Artifact[]): string {
  if (artifacts.length === 0) return `${taskId ? `task ${printable(taskId)} of run ${runId}` : `run ${runId}`} kept no artifacts\n`;
  return `${table(artifacts.map((a) => [printable(a.task), printable(a.path), byteSize(a.size), a.sha256.slice(0, 12)]), ['TASK', 'PATH', 'SIZE', 'SHA256'])}\n`;
}

/** Each file to DIR/<task>/<path>, written aside and renamed once its sha256 is checked. */
async function download(source: RunSource, runId: string, artifacts: Artifact[], dir: string): Promise<void> {
  for (const artifact of artifacts) {
    const target = join(dir, taskDirName(artifact.task), artifact.path);
    if (!target.startsWith(`${dir}/`)) throw new UsageError(`artifact ${printable(artifact.path)} of ${printable(artifact.task)} would land outside ${dir}; not written`);
    mkdirSync(dirname(target), { recursive: true });
    const partial = `${target}.partial`;
    try {
      const { sha256 } = await writeHashed(await source.artifactFile(runId, artifact), partial, 0o644);
      if (sha256 !== artifact.sha256) throw new UsageError(`${printable(artifact.path)} of ${printable(artifact.task)} arrived damaged: sha256 ${sha256}, expected ${artifact.sha256}`);
      renameSync(partial, target);
    } finally {
      rmSync(partial, { force: true });
    }
  }
}
