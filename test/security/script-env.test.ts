import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import { Sandbox } from '../helpers/cli.ts';
import { processesUnder } from '../helpers/processes.ts';

/**
 * Matrix values, step env and --set values reach a task through its environment only:
 * a real run with real local agents, whose values are shell code, quotes, newlines, globs
 * and options, ends with each task having seen exactly those bytes and none of them run.
 */

let box: Sandbox;
beforeEach(() => { box = new Sandbox(); });
afterEach(() => box.cleanup());

/** Values that would do something if any of them were pasted into a shell line or argv. */
function trickyValues(pwned: (n: number) => string): string[] {
  return [
    `$(touch ${pwned(1)})`,
    `\`touch ${pwned(2)}\``,
    `; touch ${pwned(3)}; #`,
    `' ; touch ${pwned(4)}; echo '`,
    `" ; touch ${pwned(5)}; echo "`,
    `first line\nsecond && touch ${pwned(6)}\n`,
    `| touch ${pwned(7)}`,
    `&& touch ${pwned(8)} &`,
    `> ${pwned(9)}`,
    `\${IFS}touch\${IFS}${pwned(10)}`,
    '*',
    '--help',
    '-n',
    '-e \\n',
    '../../../etc/passwd',
    '%s %n %x',
    '\\ \\\\ \\n',
    '   spaced   ',
    'ünï☃ 😀',
    '\t\r',
    '$HOME ${PATH}',
  ];
}

function record(out: string): string {
  // Each task writes what it sees to a file of its own; the name holds none of the value.
  return [
    `f=$(mktemp "${out}/value.XXXXXX")`,
    `printf '%s' "$VALUE" > "$f"`,
    `printf '%s' "$TRICKY" > "$f.env"`,
  ].join('\n');
}

/** What the tasks recorded: each value and the env it saw beside it. */
function recorded(out: string): { value: string; env: string }[] {
  return readdirSync(out).filter((name) => !name.endsWith('.env')).map((name) => ({
    value: readFileSync(join(out, name), 'utf8'),
    env: readFileSync(join(out, `${name}.env`), 'utf8'),
  }));
}

describe('values reach scripts through the environment only', () => {
  it('gives every task exactly the bytes of its matrix values and step env, and runs none of them', async () => {
    const pwned = (n: number) => join(box.dir.path, `pwned-${n}`);
    const values = trickyValues(pwned);
    const tricky = `$(touch ${pwned(90)}) \`touch ${pwned(91)}\` '"; touch ${pwned(92)}\n-rf *`;
    const outFile = join(box.dir.path, 'out-file');
    const outInline = join(box.dir.path, 'out-inline');
    mkdirSync(outFile);
    mkdirSync(outInline);
    const file = box.write({
      'scripts/record.sh': `${record(outFile)}\n`,
      'slipway.yml': [
        'name: tricky',
        'matrix:',
        `  value: [${values.map((v) => JSON.stringify(v)).join(', ')}]`,
        'activities:',
        '  builder: { provider: local, max_workers: 3, idle_timeout: 10s }',
        'steps:',
        '  as-file:',
        '    over: [value]',
        '    retry: { attempts: 1 }',
        `    env: { TRICKY: ${JSON.stringify(tricky)} }`,
        '    run: scripts/record.sh',
        '  inline:',
        '    over: [value]',
        '    retry: { attempts: 1 }',
        `    env: { TRICKY: ${JSON.stringify(tricky)} }`,
        `    run: ${JSON.stringify(record(outInline))}`,
        '',
      ].join('\n'),
    });

    const result = await box.run(['run', file, '--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as RunReport;
    expect(report.tasks).toHaveLength(values.length * 2);
    expect(report.tasks.every((t) => t.status === 'succeeded')).toBe(true);
    expect(report.tasks.find((t) => t.step === 'inline' && t.matrix.value === values[0])?.id).toBe(`inline[value=${values[0]}]`);

    for (const out of [outFile, outInline]) {
      const seen = recorded(out);
      expect(seen.map((s) => s.value).sort()).toEqual([...values].sort());
      expect(seen.every((s) => s.env === tricky)).toBe(true);
    }
    const side = readdirSync(box.dir.path).filter((name) => name.startsWith('pwned-'));
    expect(side).toEqual([]);
    expect(processesUnder(box.dir.path)).toEqual([]);
  });

  it('gives a --set value from the command line to the task as it was typed', async () => {
    const out = join(box.dir.path, 'out');
    mkdirSync(out);
    const pwned = join(box.dir.path, 'pwned-set');
    const file = box.write({
      'slipway.yml': [
        'name: manual',
        'matrix: { value: [plain] }',
        'activities: { builder: { provider: local, max_workers: 2, idle_timeout: 10s } }',
        'steps:',
        '  record:',
        '    over: [value]',
        '    retry: { attempts: 1 }',
        '    env: { TRICKY: none }',
        `    run: ${JSON.stringify(record(out))}`,
        '',
      ].join('\n'),
    });
    const typed = [`$(touch ${pwned})`, `-rf; touch ${pwned}`];
    const result = await box.run(['run', file, '--json', ...typed.flatMap((v) => ['--set', `value=${v}`])]);
    expect(result.code).toBe(0);
    expect(recorded(out).map((s) => s.value).sort()).toEqual([...typed].sort());
    expect(existsSync(pwned)).toBe(false);
  });
});
