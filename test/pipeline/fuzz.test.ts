/**
 * Fuzzing parsePipeline: every input, however broken or hostile, must give a Pipeline or a
 * PipelineError whose diagnostics have a positive line and column and a message; never
 * another exception, a hang or a blow-up in memory.
 *
 * Reproducible: set SLIPWAY_FUZZ_SEED to replay a run (the seed is in the suite's name),
 * and SLIPWAY_FUZZ_ONLY=<kind>:<index> to replay one mutation. Each mutation draws from
 * its own stream, hashSeed(seed, kind, index), so one can be replayed without the others.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PipelineError } from '../../src/pipeline/errors.ts';
import { parsePipeline } from '../../src/pipeline/load.ts';
import { hashSeed, SeededRandom, seedFromEnv } from '../helpers/seeded-random.ts';
import { DESIGN_EXAMPLE, DESIGN_SCRIPTS, yaml } from './fixtures.ts';

const DEFAULT_SEED = 0x5119_ea7;
const SEED = seedFromEnv('SLIPWAY_FUZZ_SEED', DEFAULT_SEED);
const ONLY = process.env.SLIPWAY_FUZZ_ONLY?.trim();

/** Bounds on one parse and on the run. */
// Wide enough for a loaded CI machine: it catches a parse that runs away, not a slow one.
const MAX_PARSE_MS = 10_000;
const MAX_HEAP_GROWTH = 512 * 1024 * 1024;
const MAX_RETAINED_GROWTH = 128 * 1024 * 1024;

const ROOT = new URL('../../', import.meta.url).pathname;
const HELLO_C = readFileSync(join(ROOT, 'examples/hello-c/slipway.yml'), 'utf8');
const FLAKY = readFileSync(join(ROOT, 'examples/flaky/slipway.yml'), 'utf8');

/** In the manner of the fixtures of load.test.ts and load-errors.test.ts. */
const DONE_IF_MAP = yaml(
  'name: checks',
  'steps:',
  '  a:',
  '    run: scripts/test.sh',
  '    done_if: { run: scripts/is-published.sh, activity: control }',
  '  b:',
  '    needs: [a]',
  '    run: ./link.sh',
  '    timeout: 10m',
  '    env: { A: 1, B: true, C: x }',
  '  c: { needs: [b, a], run: ../outside.sh }',
);
const MERGE = yaml(
  'name: merged',
  'defaults: &d',
  '  run: echo hi',
  '  retry: { attempts: 2 }',
  'steps:',
  '  one:',
  '    <<: *d',
  '  two:',
  '    <<: [*d]',
  '    needs: [one]',
);
const MINIMAL = yaml('name: x', 'steps:', '  s: { run: "true" }');

const BASES: readonly string[] = [HELLO_C, FLAKY, DESIGN_EXAMPLE, DONE_IF_MAP, MERGE, MINIMAL];

const KEYS = [
  'name', 'matrix', 'activities', 'steps', 'provider', 'max_workers', 'idle_timeout', 'init', 'cleanup',
  'instance', 'activity', 'over', 'needs', 'exclude', 'run', 'done_if', 'retry', 'attempts', 'delay',
  'backoff', 'max_delay', 'timeout', 'env', 'version', 'config', 'shard', 'build', 'test', 'control',
] as const;

const SCALARS = [
  '42', '0', '-1', '1.5', '1e309', '-.inf', '.nan', '0x1F', '0o17', '99999999999999999999999', '1_000',
  'true', 'false', 'yes', 'no', 'on', 'null', '~', '', '""', "''", '"\\u0000"', '"\\x7f\\ud800"',
  '[]', '{}', '[a, 1, null]', '{ a: 1 }', '{ run: x }', '[[[]]]', '[{}]', '{ ? [a] : b }',
  '!!binary aGVsbG8=', '!!set { a, b }', '!!omap [ { a: 1 } ]', '!!pairs [ { a: 1 } ]', '!!timestamp 2020-01-01',
  '2001-12-14t21:59:43.10-05:00', '!!int 12', '!!float x', '!!str 5', '!!map {}', '!!seq []', '!custom x',
  '!<tag:yaml.org,2002:js/function> x', '*nope', '&a x', '0s', '1ms', '-5m', '999999999h', '1.5h', '2 m',
  'scripts/test.sh', '/etc/passwd', '../x.sh', './', 'scripts', 'scripts/', '.sh', 'a b.sh', '__proto__',
  'constructor', 'toString', '|', '>-', '|+\n  x', '"unterminated', "'also", '[unclosed', '{unclosed: 1',
  '? x', '- x', ': x', '@x', '`x', '%x', '#', '!', '&', '*', '<<', '=',
];

const SPECIAL_KEYS = [
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '<<', '"<<"', '""', '~',
  'null', '1', '1.0', 'true', '[a]', '{ a: 1 }', '? complex', '*nope', '&k key', '!!int 3', '"a\\u0000b"',
  'x'.repeat(101), 'Build', 'a.b', 'a b', '-', '_', '0', 'über',
];

const ODD_CHARS = [
  '\u0000', '\u0001', '\u0007', '\b', '\t', '\v', '\f', '\r', '\r\n', '\n', '\u001b', '\u007f', '\u0080',
  '\u0085', '\u00a0', '\u00ad', '\u2028', '\u2029', '\u200b', '\u200d', '\u202e', '\ufeff', '\ufffe',
  '\uffff', '\ud800', '\udfff', '\ud83d', '😀', '👨‍👩‍👧', 'é', 'e\u0301', '日本', 'ﬁ', 'İ', 'ǅ', '\u{10ffff}',
  '#', ':', '-', '?', ',', '[', ']', '{', '}', '&', '*', '!', '|', '>', "'", '"', '%', '@', '`', '\\',
  ' ', '  ', '---', '...', '<<',
];

const DIRECTIVES = [
  '%YAML 1.1\n---\n', '%YAML 1.2\n---\n', '%YAML 9.9\n---\n', '%TAG ! tag:x,2000:\n---\n', '%FOO bar\n---\n',
  '---\n', '--- !!map\n', '--- |\n', '\ufeff', '# comment\n', '...\n',
];

type Mutator = (rng: SeededRandom, base: string) => string;

// ---------------------------------------------------------------------------------------
// Mutation helpers

function lines(text: string): string[] {
  return text.split('\n');
}

/** A random position in `text` that does not split a surrogate pair. */
function position(rng: SeededRandom, text: string): number {
  let at = rng.int(text.length + 1);
  if (at > 0 && at < text.length && /[\udc00-\udfff]/.test(text[at]!) && /[\ud800-\udbff]/.test(text[at - 1]!)) at--;
  return at;
}

function splice(text: string, at: number, remove: number, insert: string): string {
  return text.slice(0, at) + insert + text.slice(at + remove);
}

/** Indexes of `key: value` lines, with their parts. */
function keyLines(all: string[]): { index: number; indent: string; key: string; rest: string }[] {
  const found = [];
  for (const [index, line] of all.entries()) {
    const m = /^(\s*(?:-\s+)?)([^\s#:][^:#]*?):(\s.*|)$/.exec(line);
    if (m) found.push({ index, indent: m[1]!, key: m[2]!, rest: m[3]! });
  }
  return found;
}

function nearMiss(rng: SeededRandom, key: string): string {
  const k = key.length > 0 ? key : 'run';
  const at = rng.int(k.length);
  switch (rng.int(10)) {
    case 0: return k.slice(0, at) + k.slice(at + 1);
    case 1: return at + 1 < k.length ? k.slice(0, at) + k[at + 1] + k[at] + k.slice(at + 2) : `${k}s`;
    case 2: return k.slice(0, at) + rng.pick([...'abcdefghijklmnopqrstuvwxyz_-']) + k.slice(at);
    case 3: return k.toUpperCase();
    case 4: return k.replaceAll('_', '-').replaceAll(/-/g, rng.chance(0.5) ? '_' : '-');
    case 5: return `"${k}"`;
    case 6: return `'${k} '`;
    case 7: return `${k}${rng.pick(['s', '_', 'x', '2', ' '])}`;
    case 8: return rng.pick(KEYS);
    default: return rng.pick(SPECIAL_KEYS);
  }
}

function randomValue(rng: SeededRandom, depth = 0): string {
  if (depth > 2 || rng.chance(0.6)) return rng.pick(SCALARS);
  const n = rng.int(4);
  const items = Array.from({ length: n }, () => randomValue(rng, depth + 1)).filter((v) => !v.includes('\n'));
  if (rng.chance(0.5)) return `[${items.join(', ')}]`;
  return `{ ${items.map((v, i) => `${rng.chance(0.7) ? rng.pick(KEYS) : `k${i}`}: ${v}`).join(', ')} }`;
}

function randomBlock(rng: SeededRandom, indent: string): string {
  const n = rng.range(1, 4);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    out.push(rng.chance(0.5) ? `${indent}- ${rng.pick(SCALARS)}` : `${indent}${rng.pick(KEYS)}: ${rng.pick(SCALARS)}`);
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------
// Mutators

const byteLevel: Mutator = (rng, base) => {
  let text = base;
  const edits = rng.range(1, 8);
  for (let i = 0; i < edits; i++) {
    const at = position(rng, text);
    switch (rng.int(4)) {
      case 0: {
        // flip a bit of one UTF-16 unit
        if (at < text.length) {
          const code = text.charCodeAt(at) ^ (1 << rng.int(8));
          text = splice(text, at, 1, String.fromCharCode(code));
        }
        break;
      }
      case 1: text = splice(text, at, 0, String.fromCharCode(rng.int(128))); break;
      case 2: text = splice(text, at, rng.range(1, 12), ''); break;
      default: text = splice(text, at, 0, rng.pick(ODD_CHARS)); break;
    }
  }
  return text;
};

const keyNearMiss: Mutator = (rng, base) => {
  const all = lines(base);
  const keys = keyLines(all);
  for (let i = rng.range(1, 3); i > 0 && keys.length > 0; i--) {
    const k = rng.pick(keys);
    all[k.index] = `${k.indent}${nearMiss(rng, k.key)}:${k.rest}`;
  }
  return all.join('\n');
};

const typeChange: Mutator = (rng, base) => {
  const all = lines(base);
  const keys = keyLines(all);
  for (let i = rng.range(1, 3); i > 0 && keys.length > 0; i--) {
    const k = rng.pick(keys);
    const indent = `${k.indent.replace('-', ' ')}  `;
    const value = rng.chance(0.25) ? `\n${randomBlock(rng, indent)}` : ` ${randomValue(rng)}`;
    all[k.index] = `${k.indent}${k.key}:${value}`;
  }
  // list items too: `- x` lines and flow lists
  if (rng.chance(0.3)) {
    const items = all.flatMap((line, index) => (/^\s*- /.test(line) ? [index] : []));
    if (items.length > 0) {
      const index = rng.pick(items);
      all[index] = all[index]!.replace(/- .*/, `- ${randomValue(rng)}`);
    }
  }
  let text = all.join('\n');
  if (rng.chance(0.3)) text = text.replace(/\[[^\]\n]*\]/, randomValue(rng));
  return text;
};

const huge: Mutator = (rng, base) => {
  const size = (small: number, big: number): number => (rng.chance(0.5) ? small : big);
  switch (rng.int(14)) {
    case 0: // a long string where a string goes (sometimes past the file limit)
      return base.replace(/^name: .*$/m, `name: ${'a'.repeat(size(200_000, 1_100_000))}`);
    case 1: // a long inline script
      return base.replace(/run: .*/, `run: "${'x'.repeat(size(100_000, 600_000))}"`);
    case 2: { // deep flow nesting
      const depth = rng.pick([100, 1_000, 10_000, 100_000]);
      return `${base}\ndeep: ${'['.repeat(depth)}${']'.repeat(rng.chance(0.8) ? depth : depth - 1)}\n`;
    }
    case 3: { // deep flow maps
      const depth = rng.pick([100, 1_000, 10_000, 100_000]);
      return `name: x\nsteps: ${'{a: '.repeat(depth)}1${'}'.repeat(depth)}\n`;
    }
    case 4: { // deep block nesting
      const depth = rng.pick([50, 300, 1_000]);
      const out = ['name: x', 'steps:'];
      for (let i = 1; i <= depth; i++) out.push(`${' '.repeat(i)}s${i}:`);
      out.push(`${' '.repeat(depth + 1)}run: echo`);
      return out.join('\n');
    }
    case 5: { // deep block sequences
      const depth = rng.pick([50, 500, 5_000]);
      return `name: x\nsteps:\n  s:\n    run: echo\n    needs:\n${Array.from({ length: depth }, (_, i) => `${' '.repeat(4 + i * 2)}- `).join('\n')}x\n`;
    }
    case 6: { // many steps
      const n = rng.pick([1_000, 10_001]);
      const steps = Array.from({ length: n }, (_, i) => `  s${i}: { run: echo${rng.chance(0.01) ? ', bad: 1' : ''} }`);
      return `name: many\nsteps:\n${steps.join('\n')}\n`;
    }
    case 7: { // a long needs chain, or a long cycle
      const n = rng.pick([1_000, 5_000]);
      const cycle = rng.chance(0.5);
      const steps = Array.from({ length: n }, (_, i) =>
        `  s${i}: { run: echo${i > 0 || cycle ? `, needs: [s${i > 0 ? i - 1 : n - 1}]` : ''} }`);
      return `name: chain\nsteps:\n${steps.join('\n')}\n`;
    }
    case 8: { // a big matrix
      const axes = rng.range(2, 8);
      const values = rng.pick([5, 20, 100, 1_000]);
      const names = Array.from({ length: axes }, (_, i) => `a${i}`);
      const matrix = names.map((a) => `  ${a}: [${Array.from({ length: values }, (_, i) => `v${i}`).join(', ')}]`);
      const exclude = rng.chance(0.5)
        ? `, exclude: [${Array.from({ length: rng.pick([10, 1_001, 5_000]) }, (_, i) => `{ a0: v${i % values} }`).join(', ')}]`
        : '';
      return `name: big\nmatrix:\n${matrix.join('\n')}\nsteps:\n  s: { run: echo, over: [${names.join(', ')}]${exclude} }\n`;
    }
    case 9: { // many env keys
      const n = rng.pick([1_000, 10_000]);
      return `name: env\nsteps:\n  s:\n    run: echo\n    env:\n${Array.from({ length: n }, (_, i) => `      V${i}: ${i}`).join('\n')}\n`;
    }
    case 10: { // many mistakes, to reach the diagnostic bounds
      const n = rng.pick([500, 3_000]);
      return `name: BAD\nsteps:\n${Array.from({ length: n }, (_, i) => `  S${i}: { run: 1, needs: [nope${i}], bogus: x }`).join('\n')}\n`;
    }
    case 11: // a long key
      return `name: x\nsteps:\n  ${'k'.repeat(size(10_000, 500_000))}: { run: echo }\n`;
    case 12: { // many lines of nothing, or many YAML errors
      const n = rng.pick([10_000, 100_000]);
      return rng.chance(0.5) ? `${'\n'.repeat(n)}${base}` : `${base}\n${'- ]\n'.repeat(n / 10)}`;
    }
    default: { // many documents
      const n = rng.pick([100, 10_000]);
      return `${base}\n${'---\na: 1\n'.repeat(n)}`;
    }
  }
};

const anchorsAndAliases: Mutator = (rng, base) => {
  switch (rng.int(10)) {
    case 0: { // billion laughs
      const levels = rng.range(3, 12);
      const width = rng.range(2, 10);
      const out = ['name: bomb', 'a0: &a0 [lol]'];
      for (let i = 1; i <= levels; i++) out.push(`a${i}: &a${i} [${Array(width).fill(`*a${i - 1}`).join(', ')}]`);
      out.push(`steps:\n  s: { run: echo, env: { X: *a${levels} } }`);
      return out.join('\n');
    }
    case 1: { // a map bomb with merge keys
      const levels = rng.range(3, 10);
      const out = ['name: bomb', 'm0: &m0 { k: v }'];
      for (let i = 1; i <= levels; i++) out.push(`m${i}: &m${i} { ${Array.from({ length: 6 }, (_, j) => `k${j}: *m${i - 1}`).join(', ')}, <<: *m${i - 1} }`);
      out.push(`steps: *m${levels}`);
      return out.join('\n');
    }
    case 2: // self-references
      return rng.pick([
        'name: x\nsteps: &s { a: *s }\n',
        'name: x\nsteps: &s\n  a: { run: echo, needs: *s }\n',
        'a: &a [*a]\nname: x\nsteps: { s: { run: echo, env: *a } }\n',
        'name: x\nsteps:\n  s: &s\n    <<: *s\n    run: echo\n',
        'name: &n x\nsteps: &s\n  s: { run: *n, needs: [*s] }\n',
        'name: x\nsteps: &s [*s, *s]\n',
        '&a name: x\nsteps: { *a : 1 }\n',
        'name: x\nsteps:\n  s: { run: echo, <<: [*x] }\n',
      ]);
    case 3: { // anchors and aliases dropped onto random values
      const all = lines(base);
      const keys = keyLines(all);
      if (keys.length < 2) return base;
      const a = rng.pick(keys);
      const b = rng.pick(keys);
      const name = rng.pick(['x', 'env', 'd', 'a']);
      all[a.index] = `${a.indent}${a.key}: &${name}${a.rest}`;
      all[b.index] = `${b.indent}${b.key}: *${rng.chance(0.8) ? name : 'missing'}`;
      return all.join('\n');
    }
    case 4: { // merge keys in odd places
      const all = lines(base);
      const keys = keyLines(all);
      if (keys.length === 0) return base;
      const k = rng.pick(keys);
      const value = rng.pick(['*env', '*d', '[*env, *env]', '1', 'null', '[]', '{ run: x }', '[1, 2]', '*nope', '"s"']);
      all.splice(k.index + 1, 0, `${k.indent}  <<: ${value}`);
      return `x: &env { OUT: o }\nd: &d { run: echo }\n${all.join('\n')}`;
    }
    case 5: // aliases as keys
      return `name: x\nk: &k run\nsteps:\n  s: { *k : echo, ${rng.pick(['*k : 2', 'needs: [*k]', '? *k : 3'])} }\n`;
    case 6: { // many aliases of one anchor
      const n = rng.pick([500, 1_001, 5_000, 20_000]);
      return `name: x\nv: &v echo\nsteps:\n  s:\n    run: echo\n    env:\n${Array.from({ length: n }, (_, i) => `      V${i}: *v`).join('\n')}\n`;
    }
    case 7: { // an anchor redefined, or an alias before its anchor
      return rng.pick([
        'name: &a x\nsteps: { s: { run: *a } }\nother: &a y\nmore: *a\n',
        'name: *a\nsteps: &a { s: { run: echo } }\n',
        'name: x\nsteps: { s: &a { run: echo }, t: *a, u: *a }\n',
        'name: x\nsteps:\n  s: &a\n    run: echo\n  t:\n    <<: *a\n    needs: [s]\n',
      ]);
    }
    case 8: { // a wide alias fan-out of a deep anchored tree
      const depth = rng.range(10, 60);
      return `name: x\nt: &t ${'['.repeat(depth)}1${']'.repeat(depth)}\nsteps: { s: { run: echo, env: { ${Array.from({ length: 200 }, (_, i) => `V${i}: *t`).join(', ')} } } }\n`;
    }
    default: // aliases in a mutated base
      return byteLevel(rng, `a: &a { run: echo }\nb: &b [build]\n${base}\nz: [*a, *b, *a]\n`);
  }
};

const duplicateKeys: Mutator = (rng, base) => {
  const all = lines(base);
  const keys = keyLines(all);
  if (keys.length === 0) return base;
  switch (rng.int(4)) {
    case 0: { // repeat one line
      const k = rng.pick(keys);
      all.splice(k.index + rng.range(0, 1), 0, all[k.index]!);
      return all.join('\n');
    }
    case 1: { // repeat a block (a line and those indented under it)
      const k = rng.pick(keys);
      let end = k.index + 1;
      while (end < all.length && (all[end]!.length === 0 || /^\s/.test(all[end]!) && all[end]!.search(/\S/) > k.indent.length)) end++;
      all.splice(end, 0, ...all.slice(k.index, end));
      return all.join('\n');
    }
    case 2: // a top-level key again
      return `${base}\n${rng.pick(['name: again', 'steps:\n  z: { run: echo }', 'matrix: {}', 'activities: {}', '"name": q', 'name: x\nname: y'])}\n`;
    default: // duplicates in flow maps, and near-duplicates after YAML's own resolution
      return base.replace(/\{ ?/, rng.pick(['{ a: 1, a: 2, ', '{ run: x, run: y, ', '{ "run": x, ', '{ 1: a, 1.0: b, ', '{ ~: a, null: b, ', '{ [a]: 1, [a]: 2, ']));
  }
};

const tabsAndWhitespace: Mutator = (rng, base) => {
  const all = lines(base);
  for (let i = rng.range(1, 4); i > 0; i--) {
    const index = rng.int(all.length);
    const line = all[index]!;
    switch (rng.int(6)) {
      case 0: all[index] = line.replace(/^ +/, (s) => '\t'.repeat(Math.max(1, s.length / 2))); break;
      case 1: all[index] = line.replace(/^ */, (s) => s + '\t'); break;
      case 2: all[index] = splice(line, position(rng, line), 0, '\t'); break;
      case 3: all[index] = ` ${line}`; break;
      case 4: all[index] = line.slice(Math.min(2, line.search(/\S|$/))); break;
      default: all[index] = `${line}${rng.pick([' ', '\t', ' # c', '\r', '  \t  '])}`; break;
    }
  }
  let text = all.join('\n');
  if (rng.chance(0.1)) text = text.replaceAll('\n', rng.pick(['\r\n', '\r', '\u2028', '\u0085']));
  return text;
};

const unicodeAndControl: Mutator = (rng, base) => {
  let text = base;
  for (let i = rng.range(1, 6); i > 0; i--) {
    const at = position(rng, text);
    const odd = rng.pick(ODD_CHARS);
    text = rng.chance(0.5) ? splice(text, at, 0, odd) : splice(text, at, 1, odd);
  }
  if (rng.chance(0.2)) text = text.replace(/(run|name): /, (_, k: string) => `${k}: ${rng.pick(['"\\', '"\\u', '"\\ud800"', '"\\U0010FFFF"', '"\\xZZ"', '"\\0\\a\\e"', '"\\N\\_\\L\\P"'])}`);
  if (rng.chance(0.1)) text = rng.pick(DIRECTIVES) + text;
  return text;
};

const truncation: Mutator = (rng, base) => {
  if (rng.chance(0.5)) return base.slice(0, position(rng, base));
  const all = lines(base);
  const keep = rng.int(all.length + 1);
  const cut = all.slice(0, keep);
  if (rng.chance(0.5) && keep < all.length) cut.push(all[keep]!.slice(0, rng.int(all[keep]!.length + 1)));
  return cut.join('\n');
};

const structural: Mutator = (rng, base) => {
  const all = lines(base);
  switch (rng.int(7)) {
    case 0: { // move a line
      const [line] = all.splice(rng.int(all.length), 1);
      all.splice(rng.int(all.length + 1), 0, line!);
      return all.join('\n');
    }
    case 1: // drop lines
      for (let i = rng.range(1, 5); i > 0 && all.length > 0; i--) all.splice(rng.int(all.length), 1);
      return all.join('\n');
    case 2: // re-indent a line
      all[rng.int(all.length)] = `${' '.repeat(rng.int(12))}${all[rng.int(all.length)]!.trimStart()}`;
      return all.join('\n');
    case 3: { // splice two bases
      const other = lines(rng.pick(BASES));
      return [...all.slice(0, rng.int(all.length + 1)), ...other.slice(rng.int(other.length + 1))].join('\n');
    }
    case 4: // insert directives, documents, comments
      all.splice(rng.int(all.length + 1), 0, rng.pick(DIRECTIVES).trimEnd());
      return all.join('\n');
    case 5: // the whole file as another kind of value
      return rng.pick(SCALARS.filter((s) => !s.startsWith('*')).concat(['- a\n- b', '[name, steps]', 'x: y', '', '\n\n', '# only a comment']));
    default: { // flow style for the whole file, with a random edit
      const flow = `{ name: x, steps: { a: { run: echo, needs: [${randomValue(rng)}] }, b: ${randomValue(rng)} }, matrix: ${randomValue(rng)}, activities: ${randomValue(rng)} }`;
      return rng.chance(0.5) ? flow : byteLevel(rng, flow);
    }
  }
};

/** Scripts the mutated pipelines may refer to, as relative paths. */
const scriptPaths: Mutator = (rng, base) =>
  base.replace(/(run|init|cleanup|done_if): .*/g, (line, key: string) =>
    rng.chance(0.4)
      ? `${key}: ${rng.pick([
          'scripts/test.sh', 'scripts/package.sh', 'scripts/missing.sh', 'scripts', 'scripts/', './scripts/../scripts/test.sh',
          '../outside.sh', '/bin/sh', 'link.sh', 'dirlink/test.sh', 'loop.sh', 'dir.sh', './link.sh', 'scripts//test.sh',
          'scripts/./publish.sh', 'a/../../x.sh', '~/x.sh', 'scripts/test.sh\u0000x', 'C:\\\\x.sh', 'scripts\\\\test.sh',
          'x.py', 'x.bash', `${'d/'.repeat(2_000)}x.sh`, `${'a'.repeat(300)}.sh`,
        ])}`
      : line);

/** Several mutators in a row. */
const stacked: Mutator = (rng, base) => {
  let text = base;
  for (let i = rng.range(2, 4); i > 0; i--) text = rng.pick(SMALL)[1](rng, text);
  return text;
};

const SMALL: readonly [string, Mutator][] = [
  ['byte', byteLevel],
  ['near-miss key', keyNearMiss],
  ['type change', typeChange],
  ['duplicate key', duplicateKeys],
  ['tab/whitespace', tabsAndWhitespace],
  ['unicode/control', unicodeAndControl],
  ['truncation', truncation],
  ['structure', structural],
  ['script path', scriptPaths],
];

/** Each kind of mutation, and how many to try: ≥ 10,000 in all. */
const KINDS: readonly { kind: string; count: number; mutate: Mutator }[] = [
  { kind: 'byte', count: 1_700, mutate: byteLevel },
  { kind: 'near-miss key', count: 1_200, mutate: keyNearMiss },
  { kind: 'type change', count: 1_600, mutate: typeChange },
  { kind: 'duplicate key', count: 700, mutate: duplicateKeys },
  { kind: 'tab/whitespace', count: 700, mutate: tabsAndWhitespace },
  { kind: 'unicode/control', count: 1_000, mutate: unicodeAndControl },
  { kind: 'truncation', count: 700, mutate: truncation },
  { kind: 'structure', count: 700, mutate: structural },
  { kind: 'script path', count: 500, mutate: scriptPaths },
  { kind: 'anchor/alias', count: 300, mutate: anchorsAndAliases },
  { kind: 'stacked', count: 900, mutate: stacked },
  { kind: 'huge', count: 60, mutate: huge },
];

// ---------------------------------------------------------------------------------------
// The run

let sourceDir = '';
let outside = '';
const gc: () => void = (() => {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
})();
let baseline = 0;
let peak = 0;
let total = 0;
let started = 0;

interface Failure {
  replay: string;
  problem: string;
  input: string;
}

function describeInput(text: string): string {
  const shown = text.length > 600 ? `${text.slice(0, 600)}… (${text.length} chars)` : text;
  return JSON.stringify(shown);
}

/** What is wrong with the outcome of parsing `text`, or undefined. */
function check(text: string): string | undefined {
  const start = performance.now();
  let problem: string | undefined;
  try {
    const pipeline = parsePipeline(text, 'slipway.yml', sourceDir) as unknown;
    if (typeof pipeline !== 'object' || pipeline === null || typeof (pipeline as { name?: unknown }).name !== 'string') {
      problem = `returned a value that is not a Pipeline: ${String(pipeline)}`;
    }
  } catch (error) {
    if (!(error instanceof PipelineError)) {
      problem = `threw ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`;
    } else if (!Array.isArray(error.diagnostics) || error.diagnostics.length === 0) {
      problem = 'threw a PipelineError without diagnostics';
    } else {
      const bad = error.diagnostics.find(
        (d) =>
          !Number.isInteger(d.line) || d.line < 1 || !Number.isInteger(d.column) || d.column < 1 ||
          typeof d.message !== 'string' || d.message.trim() === '' || d.file !== 'slipway.yml',
      );
      if (bad) problem = `bad diagnostic ${JSON.stringify(bad)}`;
    }
  }
  const elapsed = performance.now() - start;
  if (!problem && elapsed > MAX_PARSE_MS) problem = `took ${Math.round(elapsed)} ms (limit ${MAX_PARSE_MS} ms)`;
  return problem;
}

function run(kind: string, count: number, mutate: Mutator): Failure[] {
  const failures: Failure[] = [];
  for (let index = 0; index < count; index++) {
    const replay = `SLIPWAY_FUZZ_SEED=${SEED} SLIPWAY_FUZZ_ONLY=${kind}:${index}`;
    if (ONLY && ONLY !== `${kind}:${index}`) continue;
    const rng = new SeededRandom(hashSeed(SEED, kind, index));
    const text = mutate(rng, rng.pick(BASES));
    const problem = check(text);
    total++;
    if (kind === 'huge' || index % 64 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed);
    if (problem) failures.push({ replay, problem, input: describeInput(text) });
    if (failures.length >= 5) break;
  }
  return failures;
}

describe(`parsePipeline fuzz (seed ${SEED}; replay with SLIPWAY_FUZZ_SEED=${SEED})`, () => {
  beforeAll(() => {
    const root = mkdtempSync(join(tmpdir(), 'slipway-fuzz-'));
    sourceDir = join(root, 'src');
    outside = join(root, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'x.sh'), '#!/bin/sh\n');
    cpSync(join(ROOT, 'examples/hello-c/scripts'), join(sourceDir, 'scripts'), { recursive: true });
    for (const script of DESIGN_SCRIPTS) writeFileSync(join(sourceDir, script), '#!/usr/bin/env bash\ntrue\n');
    writeFileSync(join(root, 'outside.sh'), '#!/bin/sh\n');
    writeFileSync(join(sourceDir, 'x.py'), '');
    mkdirSync(join(sourceDir, 'dir.sh'));
    symlinkSync(join(outside, 'x.sh'), join(sourceDir, 'link.sh'));
    symlinkSync(outside, join(sourceDir, 'dirlink'));
    symlinkSync('loop.sh', join(sourceDir, 'loop.sh'));
    gc();
    baseline = process.memoryUsage().heapUsed;
    peak = baseline;
    started = performance.now();
  });

  afterAll(() => {
    rmSync(join(sourceDir, '..'), { recursive: true, force: true });
  });

  for (const { kind, count, mutate } of KINDS) {
    it(`${kind}: ${count} mutations give a Pipeline or a located PipelineError`, () => {
      const failures = run(kind, count, mutate);
      expect(failures, `seed ${SEED}, kind ${kind}: replay each with the command shown`).toEqual([]);
    });
  }

  it(`tried at least 10,000 mutations within bounded memory`, () => {
    gc();
    const retained = process.memoryUsage().heapUsed - baseline;
    const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;
    console.log(
      `fuzz seed ${SEED}: ${total} parses in ${Math.round(performance.now() - started)} ms; ` +
        `peak heap growth ${mib(peak - baseline)}, retained ${mib(retained)}`,
    );
    if (!ONLY) expect(total).toBeGreaterThanOrEqual(10_000);
    expect(peak - baseline, `seed ${SEED}: peak heap growth`).toBeLessThan(MAX_HEAP_GROWTH);
    expect(retained, `seed ${SEED}: heap retained after the run`).toBeLessThan(MAX_RETAINED_GROWTH);
  });
});
