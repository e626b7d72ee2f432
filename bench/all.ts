/**
 * `npm run bench`: the dispatch benchmark, the end-to-end one, the pipeline file's worst
 * cases, artifact throughput, what a step cache saves, what keeping logs costs (files
 * and PostgreSQL's tables), then what the fleet costs on a simulated day of CI load, each
 * in a process of its own.
 * `--store sqlite|postgres`, `--compare graphile-worker` and `--profile` go to the dispatch bench, other
 * arguments to the end-to-end bench (`--tasks N`, `--small N`); `--json` goes to all, and
 * prints one object: `{ "dispatch": {...}, "end_to_end": {...}, "pipeline": {...}, "artifacts": {...}, "cache": {...}, "logs": {...}, "simulate": {...} }`.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const argv = process.argv.slice(2);
const json = argv.includes('--json');
/** `--store sqlite|postgres`, `--compare graphile-worker` and `--profile` are the dispatch bench's; the rest go to the end-to-end one. */
const dispatchArgs: string[] = [];
const args: string[] = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--store' || argv[i] === '--compare') dispatchArgs.push(argv[i]!, argv[++i] ?? '');
  else if (argv[i] === '--profile') dispatchArgs.push(argv[i]!);
  else args.push(argv[i]!);
}
let current: ReturnType<typeof spawn> | undefined;

/** Runs one bench; with --json, returns what it printed, parsed. */
function bench(file: string, benchArgs: string[]): Promise<unknown> {
  const child = spawn(process.execPath, [fileURLToPath(new URL(file, import.meta.url)), ...benchArgs], {
    stdio: ['ignore', json ? 'pipe' : 'inherit', 'inherit'],
  });
  current = child;
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code !== 0) reject(new Error(`${file} ${signal ? `was killed by ${signal}` : `exited ${code}`}`));
      else resolve(json ? JSON.parse(output) : undefined);
    });
  });
}

// Ctrl-C reaches the running bench too, and it cleans up after itself; a SIGTERM is passed on to it.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => current?.kill('SIGTERM'));

const dispatch = await bench('./dispatch.ts', [...dispatchArgs, ...(json ? ['--json'] : [])]);
const endToEnd = await bench('./end-to-end.ts', args);
const pipeline = await bench('./pipeline.ts', json ? ['--json'] : []);
const artifacts = await bench('./artifacts.ts', json ? ['--json'] : []);
const cache = await bench('./cache.ts', json ? ['--json'] : []);
const logs = await bench('./logs.ts', json ? ['--json'] : []);
const simulation = await bench('./simulate.ts', json ? ['--json'] : []);
if (json) process.stdout.write(`${JSON.stringify({ dispatch, end_to_end: endToEnd, pipeline, artifacts, cache, logs, simulate: simulation })}\n`);
