/**
 * The pipeline file's worst cases, timed: expanding about 10,000 tasks with dependencies,
 * and checking the largest file the limits let through (nine lists of 9,999 values, each a
 * mistake of its own), and refusing the hostile files that once took seconds. Tests check
 * what these give; this prints how long they take. `node bench/pipeline.ts [--json]`.
 */
import { expandTasks } from '../src/pipeline/expand.ts';
import { PipelineError } from '../src/pipeline/errors.ts';
import { parsePipeline } from '../src/pipeline/load.ts';
import type { Pipeline, Step } from '../src/pipeline/types.ts';

const json = process.argv.includes('--json');
const retry = { attempts: 1, delayMs: 0, backoff: 1, maxDelayMs: 0 };

function timed<T>(work: () => T): { ms: number; result: T } {
  const started = performance.now();
  const result = work();
  return { ms: performance.now() - started, result };
}

const values = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const steps: (Partial<Step> & { name: string })[] = [
  { name: 'source', over: ['version'] },
  { name: 'binary', over: ['version', 'distro', 'arch'], needs: ['source'] },
  { name: 'test', over: ['distro', 'version', 'arch'], needs: ['binary', 'source'] },
  { name: 'index', over: ['distro', 'arch'], needs: ['test'] },
  { name: 'release', needs: ['index'] },
];
const pipeline: Pipeline = {
  name: 'bench', file: '/src/slipway.yml', sourceDir: '/src',
  matrix: { version: values('v', 24), distro: values('d', 20), arch: values('a', 10) },
  activities: { control: { name: 'control', provider: 'local', maxWorkers: 4, idleTimeoutMs: 30_000 } },
  steps: Object.fromEntries(steps.map((step) => [step.name, {
    activity: 'control', over: [], needs: [], exclude: [], run: { kind: 'inline', text: 'true' }, retry, timeoutMs: null, env: {}, ...step,
  } as Step])),
};
const expanded = timed(() => expandTasks(pipeline));

const lists = Array.from({ length: 9 }, (_, i) => `  a${i}: [${Array(9_999).fill('1').join(',')}]`);
const largest = `name: x\nmatrix:\n${lists.join('\n')}\n`;

/** How `text` is refused (or accepted), and how long that takes. */
function check(text: string): { outcome: string; ms: number } {
  const { ms, result } = timed(() => {
    try {
      parsePipeline(text, '/src/slipway.yml', '/src');
      return 'accepted';
    } catch (error) {
      if (!(error instanceof PipelineError)) throw error;
      return `${error.diagnostics.length} ${error.diagnostics.length === 1 ? 'mistake' : 'mistakes'}`;
    }
  });
  return { outcome: result, ms: Math.round(ms) };
}

// Hostile files that once held the event loop for seconds: 1 MiB of nesting (the YAML
// parser alone took six seconds), an alias bomb, and a one-line list of 500,000 values.
const nesting = `steps: ${'['.repeat(500_000)}${']'.repeat(500_000)}\n`.slice(0, 1024 * 1024);
const bombLevels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
for (const [name, previous] of [['b', 'a'], ['c', 'b'], ['d', 'c'], ['e', 'd'], ['f', 'e'], ['g', 'f'], ['h', 'g'], ['i', 'h']]) {
  bombLevels.push(`${name}: &${name} [${Array(10).fill(`*${previous}`).join(', ')}]`);
}
const longList = `name: x\nmatrix: {a: [${Array(500_000).fill('1').join(',')}]}\n`;

const result = {
  expand: { tasks: expanded.result.length, ms: Math.round(expanded.ms) },
  largest_file: { bytes: largest.length, ...check(largest) },
  hostile: { nesting_1mib: check(nesting), alias_bomb: check(`name: x\n${bombLevels.join('\n')}\n`), list_of_500k: check(longList) },
};
if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
else {
  process.stdout.write(`expand ${result.expand.tasks} tasks with dependencies: ${result.expand.ms} ms\n`);
  process.stdout.write(`check the largest file the limits let through (${Math.round(largest.length / 1024)} KiB, ${result.largest_file.outcome}): ${result.largest_file.ms} ms\n`);
  for (const [name, { outcome, ms }] of Object.entries(result.hostile)) process.stdout.write(`refuse a hostile file (${name.replaceAll('_', ' ')}, ${outcome}): ${ms} ms\n`);
}
