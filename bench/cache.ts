/**
 * What a step cache saves: a step that builds its dependencies (objects compiled with gcc:
 * real work, not a sleep) runs three times with `slipway run` on a real local worker:
 * with nothing cached (it builds and saves), with its key's entry (it restores), and
 * without a cache at all. Figures: each task's time, and the time the cache saves.
 *
 *   node bench/cache.ts [--objects N] [--json]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { RunReport } from '../src/engine/report.ts';
import { repoRoot } from '../test/helpers/cli.ts';
import { tempDir } from '../test/helpers/temp.ts';

const { values: options } = parseArgs({ options: { json: { type: 'boolean', default: false }, objects: { type: 'string', default: '60' } } });
const objects = Number(options.objects);
if (!Number.isInteger(objects) || objects < 1) throw new Error(`--objects takes a positive whole number, not '${options.objects}'`);

const dir = tempDir('slipway-bench-cache-');
const cli = join(repoRoot, 'src/cli/main.ts');
const env = { ...process.env, XDG_STATE_HOME: join(dir.path, 'state'), XDG_CONFIG_HOME: join(dir.path, 'config'), SLIPWAY_CONFIG: '', NO_COLOR: '1' };

/** The pipeline: the deps step builds N objects unless its cache brought them. */
function write(cached: boolean): string {
  const source = join(dir.path, cached ? 'cached' : 'plain');
  mkdirSync(source, { recursive: true });
  writeFileSync(join(source, 'lib.c'), Array.from({ length: 40 }, (_, i) => `int f${i}(int x) { int y = 0; for (int i = 0; i < x; i++) y += i * ${i + 1}; return y; }`).join('\n'));
  writeFileSync(join(source, 'deps.lock'), `objects ${objects}\n`);
  const file = join(source, 'slipway.yml');
  writeFileSync(file, `
name: bench-cache
activities:
  builder: { max_workers: 1 }
steps:
  deps:
    run: |
      mkdir -p deps
      for i in $(seq 1 ${objects}); do [ -f deps/lib$i.o ] || gcc -O2 -c lib.c -o deps/lib$i.o; done
${cached ? `    cache: { key: "deps-{{ hashFiles('deps.lock') }}", paths: [deps] }\n` : ''}`);
  return file;
}

function run(file: string): Promise<number> {
  const child = spawn(process.execPath, [cli, 'run', file, '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  return new Promise((resolve, reject) => child.on('close', (code) => {
    if (code !== 0) return reject(new Error(`slipway run exited ${code}: ${stderr.slice(-2000)}`));
    const attempt = (JSON.parse(stdout) as RunReport).tasks[0]!.attempts[0]!;
    resolve(Date.parse(attempt.finished_at!) - Date.parse(attempt.started_at));
  }));
}

try {
  const cached = write(true);
  const miss = await run(cached);
  const hit = await run(cached);
  const plain = await run(write(false));
  const figures = { objects, without_cache_ms: plain, miss_and_save_ms: miss, restored_ms: hit, saved_ms: plain - hit, restore_ratio: Number((hit / plain).toFixed(3)) };
  if (options.json) process.stdout.write(`${JSON.stringify(figures)}\n`);
  else {
    process.stdout.write([
      `step cache (a step that compiles ${objects} objects with gcc, one local worker):`,
      `  without a cache        ${plain} ms`,
      `  first run: miss, save  ${miss} ms  (the save costs ${miss - plain} ms)`,
      `  second run: restored   ${hit} ms  (${figures.restore_ratio}× the uncached time: ${plain - hit} ms saved)`,
      '',
    ].join('\n'));
  }
} finally {
  dir.remove();
}
