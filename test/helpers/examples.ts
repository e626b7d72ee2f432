import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { repoRoot, type Sandbox } from './cli.ts';

export const examplesDir = join(repoRoot, 'examples');

/** The examples a new user is pointed at: every `examples/NAME/slipway.yml`. */
export function exampleNames(): string[] {
  return readdirSync(examplesDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(examplesDir, entry.name, 'slipway.yml')))
    .map((entry) => entry.name)
    .sort();
}

export function examplePipeline(name: string): string {
  return join(examplesDir, name, 'slipway.yml');
}

/** The example's pipeline file as plain data. */
export function readExample(name: string): Record<string, unknown> {
  return parse(readFileSync(examplePipeline(name), 'utf8'), { merge: true }) as Record<string, unknown>;
}

/**
 * Copies `examples/NAME` whole into the sandbox's source tree and returns the copied
 * pipeline file. Each `[from, to]` replaces text in the copy, so that whatever the example
 * writes outside its tree lands inside the sandbox instead. A replacement whose text is
 * missing throws: an example that changed must not quietly write to /tmp again.
 */
export function copyExample(box: Sandbox, name: string, replacements: [from: string, to: string][] = []): string {
  cpSync(join(examplesDir, name), box.source, { recursive: true });
  const file = join(box.source, 'slipway.yml');
  let text = readFileSync(file, 'utf8');
  for (const [from, to] of replacements) {
    if (!text.includes(from)) throw new Error(`examples/${name}/slipway.yml no longer contains ${JSON.stringify(from)}`);
    text = text.replaceAll(from, to);
  }
  writeFileSync(file, text);
  return file;
}
