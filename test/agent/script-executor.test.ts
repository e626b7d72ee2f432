import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ScriptExecutor } from '../../src/agent/agent.ts';
import type { TaskFiles } from '../../src/agent/task-files.ts';
import { tempDir } from '../helpers/temp.ts';

const noFiles: TaskFiles = {
  inputs: [],
  download: () => Promise.reject(new Error('no inputs to download')),
  upload: () => Promise.reject(new Error('no artifacts to keep')),
};

describe('the script executor', () => {
  let dir: ReturnType<typeof tempDir> | undefined;
  let executor: ScriptExecutor | undefined;
  afterEach(async () => {
    await executor?.close();
    dir?.remove();
  });

  /** Runs `text` as a task of its own, its inputs directory in $SLIPWAY_INPUTS; its output. */
  async function task(name: string, text: string): Promise<string> {
    let output = '';
    const result = await executor!.run({
      name, script: { kind: 'inline', text }, env: {}, timeoutMs: 30_000, signal: new AbortController().signal,
      onOutput: (chunk) => { output += chunk; }, files: noFiles,
    });
    expect(result.outcome, output).toBe('succeeded');
    // As the agent does once a task's end is reported, before the next comes.
    await executor!.tidy(true);
    return output;
  }

  it('gives each task an empty inputs directory, whatever the task before it left there or made of it', async () => {
    dir = tempDir();
    executor = new ScriptExecutor(join(dir.path, 'worker'));
    const outside = join(dir.path, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'precious'), 'precious\n');

    const first = await task('a-first', 'echo left > "$SLIPWAY_INPUTS/left"; mkdir "$SLIPWAY_INPUTS/sub"; chmod 500 "$SLIPWAY_INPUTS"; echo "$SLIPWAY_INPUTS"');
    const looked = 'ls -A "$SLIPWAY_INPUTS"; stat -c %a "$SLIPWAY_INPUTS"; test -d "$SLIPWAY_INPUTS" && test ! -L "$SLIPWAY_INPUTS"';
    expect(await task('a-second', looked)).toBe('755\n');
    // One that puts a link out of the machine's work in its place: the link goes, not what it leads to.
    await task('a-third', `rmdir "$SLIPWAY_INPUTS" && ln -s ${JSON.stringify(outside)} "$SLIPWAY_INPUTS"`);
    expect(await task('a-fourth', looked)).toBe('755\n');
    expect(readdirSync(outside)).toEqual(['precious']);
    expect(readFileSync(join(outside, 'precious'), 'utf8')).toBe('precious\n');
    expect(first.trim()).toBe(join(dir.path, 'worker', 'inputs'));
  });
});
