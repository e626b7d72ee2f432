import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PipelineError } from '../../src/pipeline/errors.ts';
import { loadPipeline, parsePipeline } from '../../src/pipeline/load.ts';
import { Fixtures, yaml } from './fixtures.ts';

const fixtures = new Fixtures();
afterAll(() => fixtures.remove());
const mistakes = (text: string, files: string[] = []) => fixtures.mistakes(text, files);

describe('YAML mistakes', () => {
  it('reports syntax errors where the yaml library finds them', () => {
    expect(mistakes(yaml('name: x', 'steps: [a', 'b: 1'))).toEqual([
      'slipway.yml:3:1: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
  });

  it('reports duplicate keys at the second one, at any depth', () => {
    expect(
      mistakes(yaml('name: x', 'activities: {b: {}}', 'steps:', '  a: {run: make, run: test}', '  a: {run: make}', 'name: y')),
    ).toEqual([
      "slipway.yml:4:18: steps.a: duplicate key 'run'",
      "slipway.yml:5:3: steps: duplicate key 'a'",
      "slipway.yml:6:1: duplicate key 'name'",
    ]);
  });

  it('rejects a document that is not a mapping', () => {
    const expected = 'expected a mapping with name, matrix, activities and steps';
    expect(mistakes(yaml('- name: x'))).toEqual([`slipway.yml:1:1: ${expected}, got a list`]);
    expect(mistakes(yaml('hello'))).toEqual([`slipway.yml:1:1: ${expected}, got "hello"`]);
    expect(mistakes('')).toEqual([`slipway.yml:1:1: ${expected}, got an empty value`]);
  });

  it('rejects a second document', () => {
    expect(mistakes(yaml('name: x', '---', 'name: y'))).toEqual([
      "slipway.yml:2:1: a pipeline file holds one YAML document; another starts here after '---'",
    ]);
  });

  it('rejects tags it does not know', () => {
    expect(mistakes(yaml('name: !foo x', 'activities: {b: {}}', 'steps: {a: {run: make}}'))).toEqual([
      'slipway.yml:1:7: Unresolved tag: !foo',
    ]);
  });

  it('rejects an alias without an anchor, and one inside its own anchor', () => {
    expect(mistakes(yaml('name: x', 'steps: *steps'))).toEqual([
      'slipway.yml:2:8: alias *steps has no anchor &steps before it',
    ]);
    expect(mistakes(yaml('name: x', 'matrix: &m', '  a: [x]', '  b: *m'))).toEqual([
      'slipway.yml:4:6: alias *m lies inside its own anchor',
    ]);
  });
});

describe('unknown keys', () => {
  it('points at the key at every level, suggesting a close one', () => {
    const text = yaml(
      'nmae: x',
      'activities:',
      '  b: {provider: local, max_worker: 2}',
      'steps:',
      '  a:',
      '    run: make',
      '    neds: []',
      '    retry: {attempt: 2}',
      '    done_if: {run: make, activty: b}',
      '    colour: blue',
    );
    expect(mistakes(text)).toEqual([
      "slipway.yml:1:1: missing required key 'name'",
      "slipway.yml:1:1: unknown key 'nmae' (did you mean 'name'?)",
      "slipway.yml:3:24: activities.b: unknown key 'max_worker' (did you mean 'max_workers'?)",
      "slipway.yml:7:5: steps.a: unknown key 'neds' (did you mean 'needs'?)",
      "slipway.yml:8:13: steps.a.retry: unknown key 'attempt' (did you mean 'attempts'?)",
      "slipway.yml:9:26: steps.a.done_if: unknown key 'activty' (did you mean 'activity'?)",
      "slipway.yml:10:5: steps.a: unknown key 'colour'",
    ]);
  });

  it('suggests nothing for a short name that is like no other (two edits from any one-letter name)', () => {
    const text = yaml(
      'name: x',
      'activities: {b: {}}',
      'steps:',
      '  a: {run: make, activity: b, needs: [zz]}',
      '  c: {run: make, activity: b, needs: [d]}',
      '  build: {run: make, activity: b, needs: [bild]}',
    );
    expect(mistakes(text)).toEqual([
      "slipway.yml:4:39: steps.a.needs[0]: unknown step 'zz'",
      "slipway.yml:5:39: steps.c.needs[0]: unknown step 'd'",
      "slipway.yml:6:43: steps.build.needs[0]: unknown step 'bild' (did you mean 'build'?)",
    ]);
  });
});

describe('wrong types', () => {
  it('asks for numbers in the matrix to be quoted, showing what YAML made of them', () => {
    const text = yaml(
      'name: x',
      'matrix:',
      '  python: ["3.9", 3.10, 3.11]',
      '  flag: [true]',
      '  version: 1.0.0',
      '  nested: [[a]]',
      'activities: {b: {}}',
      'steps: {a: {run: make}}',
    );
    expect(mistakes(text)).toEqual([
      'slipway.yml:3:19: matrix.python[1]: 3.10 is read as the number 3.1; quote it: "3.10"',
      'slipway.yml:3:25: matrix.python[2]: 3.11 is read as a number; quote it: "3.11"',
      'slipway.yml:4:10: matrix.flag[0]: true is read as a boolean; quote it: "true"',
      'slipway.yml:5:12: matrix.version: expected a list of values, got "1.0.0"',
      'slipway.yml:6:12: matrix.nested[0]: expected a string, got a list',
    ]);
  });

  it('accepts strings, numbers and booleans in env, keeping numbers as written', () => {
    const pipeline = fixtures.parse(
      yaml('name: x', 'activities: {b: {}}', 'steps:', '  a:', '    run: make', '    env: {S: s, PY: 3.10, N: 8080, HEX: 0x1F, ON: true, OFF: no}'),
    );
    expect(pipeline.steps.a!.env).toEqual({ S: 's', PY: '3.10', N: '8080', HEX: '0x1F', ON: 'true', OFF: 'no' });
  });

  it('rejects other env values and bad variable names', () => {
    const text = yaml('name: x', 'activities: {b: {}}', 'steps:', '  a:', '    run: make', '    env: {L: [1], 1BAD: x, M: {}}');
    expect(mistakes(text)).toEqual([
      'slipway.yml:6:14: steps.a.env.L: expected a string, number or boolean, got a list',
      "slipway.yml:6:19: steps.a.env.1BAD: invalid environment variable name: use letters, digits and '_', not starting with a digit",
      'slipway.yml:6:31: steps.a.env.M: expected a string, number or boolean, got an empty mapping',
    ]);
  });

  it('names the expected type of each field and shows the value found', () => {
    const text = yaml(
      'name: x',
      'activities: {b: {}}',
      'steps:',
      '  a:',
      '    run:',
      '    over: version',
      '    needs: [1]',
      '    retry: 3',
      '    done_if: 5',
      '  c: make',
    );
    expect(mistakes(text)).toEqual([
      'slipway.yml:5:9: steps.a.run: expected a script: a file in the source tree or inline commands, got an empty value',
      'slipway.yml:6:11: steps.a.over: expected a list of axis names, got "version"',
      'slipway.yml:7:13: steps.a.needs[0]: 1 is read as a number; quote it: "1"',
      'slipway.yml:8:12: steps.a.retry: expected a mapping with attempts, delay, backoff and max_delay, got 3',
      'slipway.yml:9:14: steps.a.done_if: expected a script, or a mapping with run and activity, got 5',
      'slipway.yml:10:6: steps.c: expected a mapping describing the step, got "make"',
    ]);
  });

  it('reports missing required keys at the mapping that lacks them', () => {
    expect(mistakes(yaml('activities: {b: {}}', 'steps:', '  a:', '    over: []'))).toEqual([
      "slipway.yml:1:1: missing required key 'name'",
      "slipway.yml:3:3: steps.a: missing required key 'run'",
    ]);
    expect(mistakes(yaml('name: x'))).toEqual(["slipway.yml:1:1: missing required key 'steps'"]);
    expect(mistakes(yaml('name: x', 'steps: {}'))).toEqual([
      'slipway.yml:2:8: steps: expected at least one step, got an empty mapping',
    ]);
  });
});

describe('names', () => {
  it('checks the pipeline name', () => {
    expect(mistakes(yaml('name: My_Pipeline', 'activities: {b: {}}', 'steps: {a: {run: make}}'))).toEqual([
      "slipway.yml:1:7: name: invalid pipeline name: use lower-case letters, digits and '-', starting with a letter or digit, got \"My_Pipeline\"",
    ]);
    expect(mistakes(yaml('name: 42', 'activities: {b: {}}', 'steps: {a: {run: make}}'))).toEqual([
      'slipway.yml:1:7: name: 42 is read as a number; quote it: "42"',
    ]);
  });

  it('checks step, activity and axis names at their keys', () => {
    const text = yaml('name: x', 'matrix:', '  Version: [a]', 'activities:', '  -pool: {}', 'steps:', '  Build:', '    activity: -pool', '    run: make');
    expect(mistakes(text)).toEqual([
      "slipway.yml:3:3: matrix.Version: invalid axis name: use lower-case letters, digits, '-' and '_', starting with a letter or digit",
      "slipway.yml:5:3: activities.-pool: invalid activity name: use lower-case letters, digits, '-' and '_', starting with a letter or digit",
      "slipway.yml:7:3: steps.Build: invalid step name: use lower-case letters, digits, '-' and '_', starting with a letter or digit",
    ]);
  });

  it('rejects axes whose variables would clash or could not be read', () => {
    const text = yaml(
      'name: x',
      'matrix:',
      '  py-version: [a]',
      '  py_version: [b]',
      '  slipway-run: [c]',
      '  3d: [d]',
      'activities: {b: {}}',
      'steps: {a: {run: make}}',
    );
    expect(mistakes(text)).toEqual([
      "slipway.yml:4:3: matrix.py_version: axes 'py-version' and 'py_version' would both set the variable PY_VERSION",
      "slipway.yml:5:3: matrix.slipway-run: axis 'slipway-run' would set SLIPWAY_RUN, which Slipway sets itself",
      "slipway.yml:6:3: matrix.3d: axis '3d' would set 3D, which shells cannot read; start it with a letter",
    ]);
  });

  it('takes names that are also properties of JavaScript objects as plain names', () => {
    expect(mistakes(yaml('name: x', 'activities: {b: {}}', 'steps:', '  a: {run: make, needs: [constructor], activity: constructor}'))).toEqual([
      "slipway.yml:4:26: steps.a.needs[0]: unknown step 'constructor'",
      "slipway.yml:4:50: steps.a.activity: unknown activity 'constructor'; defined: b, control",
    ]);
    const pipeline = fixtures.parse(yaml('name: x', 'activities: {constructor: {}}', 'steps:', '  constructor: {run: make}', '  a: {run: make, needs: [constructor]}'));
    expect(Object.values(pipeline.steps).map((step) => [step.name, step.activity, step.needs])).toEqual([
      ['constructor', 'constructor', []],
      ['a', 'constructor', ['constructor']],
    ]);
  });
});

describe('axes, over and exclude', () => {
  const matrix = ['matrix:', '  version: ["1.0", "2.0"]', '  distro: [debian, ubuntu]', 'activities: {b: {}}'];

  it('rejects duplicate and missing axis values', () => {
    const text = yaml('name: x', 'matrix:', '  version: ["1.0", "2.0", "1.0"]', '  distro: []', 'activities: {b: {}}', 'steps: {a: {run: make}}');
    expect(mistakes(text)).toEqual([
      'slipway.yml:3:27: matrix.version[2]: duplicate value "1.0"',
      'slipway.yml:4:11: matrix.distro: expected at least one value, got an empty list',
    ]);
  });

  it('rejects unknown and repeated axes in over', () => {
    const text = yaml('name: x', ...matrix, 'steps:', '  a: {run: make, over: [versoin, distro, distro]}');
    expect(mistakes(text)).toEqual([
      "slipway.yml:7:25: steps.a.over[0]: unknown axis 'versoin' (did you mean 'version'?)",
      "slipway.yml:7:42: steps.a.over[2]: axis 'distro' is listed twice",
    ]);
  });

  it('checks every exclude entry against the matrix and the step’s over', () => {
    const text = yaml(
      'name: x',
      ...matrix,
      'steps:',
      '  a:',
      '    run: make',
      '    over: [version]',
      '    exclude:',
      '      - {distr: debian}',
      '      - {distro: debian}',
      '      - {version: "3.0"}',
      '      - {version: 1.0}',
      '      - {}',
    );
    expect(mistakes(text)).toEqual([
      "slipway.yml:11:10: steps.a.exclude[0]: unknown axis 'distr' (did you mean 'distro'?)",
      "slipway.yml:12:10: steps.a.exclude[1]: axis 'distro' is not in this step's over",
      'slipway.yml:13:19: steps.a.exclude[2].version: "3.0" is not a value of axis \'version\' (did you mean \'1.0\'?)',
      'slipway.yml:14:19: steps.a.exclude[3].version: 1.0 is read as the number 1; quote it: "1.0"',
      'slipway.yml:15:9: steps.a.exclude[4]: an empty entry would exclude every task',
    ]);
  });
});

describe('needs', () => {
  const head = ['name: x', 'activities: {b: {}}', 'steps:'];

  it('rejects unknown and repeated steps', () => {
    const text = yaml(...head, '  build: {run: make}', '  test: {run: make, needs: [buld, build, build]}');
    expect(mistakes(text)).toEqual([
      "slipway.yml:5:29: steps.test.needs[0]: unknown step 'buld' (did you mean 'build'?)",
      "slipway.yml:5:42: steps.test.needs[2]: step 'build' is listed twice",
    ]);
  });

  it('reports a cycle at the entry that closes it, naming the whole cycle', () => {
    const text = yaml(
      ...head,
      '  a: {run: make, needs: [c]}',
      '  b: {run: make, needs: [a]}',
      '  c: {run: make, needs: [b]}',
      '  d: {run: make, needs: [d]}',
    );
    expect(mistakes(text)).toEqual([
      'slipway.yml:5:26: steps.b.needs[0]: needs cycle: a -> c -> b -> a',
      'slipway.yml:7:26: steps.d.needs[0]: needs cycle: d -> d',
    ]);
  });
});

describe('activities', () => {
  it('rejects an undefined activity, for steps and for done_if', () => {
    const text = yaml('name: x', 'activities: {builder: {}}', 'steps:', '  a: {run: make, activity: bilder, done_if: {run: make, activity: chekcer}}');
    expect(mistakes(text)).toEqual([
      "slipway.yml:4:28: steps.a.activity: unknown activity 'bilder' (did you mean 'builder'?); defined: builder, control",
      "slipway.yml:4:67: steps.a.done_if.activity: unknown activity 'chekcer'; defined: builder, control",
    ]);
  });

  it('keeps the name control for the built-in activity', () => {
    expect(mistakes(yaml('name: x', 'activities:', '  control: {}', 'steps: {a: {run: make, activity: control}}'))).toEqual([
      "slipway.yml:3:3: activities.control: activity name 'control' is built in",
    ]);
  });

  it('requires a step to name its activity unless exactly one is defined', () => {
    expect(mistakes(yaml('name: x', 'activities: {b: {}, c: {}}', 'steps:', '  a: {run: make}'))).toEqual([
      "slipway.yml:4:3: steps.a: missing required key 'activity' (it may be left out only when one activity is defined; defined: b, c)",
    ]);
    expect(mistakes(yaml('name: x', 'steps:', '  a: {run: make}'))).toEqual([
      "slipway.yml:3:3: steps.a: missing required key 'activity' (no activities are defined; add one under activities)",
    ]);
  });

  it('checks provider, max_workers and durations', () => {
    const text = yaml('name: x', 'activities:', '  b:', '    provider: lcoal', '    max_workers: 0', '    idle_timeout: 2 minutes', '  c: {max_workers: two, idle_timeout: 0s}', 'steps: {a: {run: make, activity: b}}');
    expect(mistakes(text)).toEqual([
      'slipway.yml:4:15: activities.b.provider: expected one of local, ssh, ec2, got "lcoal" (did you mean \'local\'?)',
      'slipway.yml:5:18: activities.b.max_workers: expected a positive integer, got 0',
      'slipway.yml:6:19: activities.b.idle_timeout: expected a duration like 90s, 5m, 2h, 1h30m or 500ms, got "2 minutes"',
      'slipway.yml:7:20: activities.c.max_workers: expected a positive integer, got "two"',
      'slipway.yml:7:39: activities.c.idle_timeout: expected a duration longer than 0, got "0s"',
    ]);
  });
});

describe('retry and timeout', () => {
  it('checks each field', () => {
    const text = yaml(
      'name: x',
      'activities: {b: {}}',
      'steps:',
      '  a:',
      '    run: make',
      '    retry: {attempts: three, delay: 1 minute, backoff: 0.5, max_delay: 30}',
      '    timeout: 90',
      '  c:',
      '    run: make',
      '    retry: {attempts: 1.5, delay: 5M}',
      '    timeout: 0s',
    );
    expect(mistakes(text)).toEqual([
      'slipway.yml:6:23: steps.a.retry.attempts: expected a positive integer, got "three"',
      'slipway.yml:6:37: steps.a.retry.delay: expected a duration like 90s, 5m, 2h, 1h30m or 500ms, got "1 minute"',
      'slipway.yml:6:56: steps.a.retry.backoff: expected a number of at least 1, got 0.5',
      'slipway.yml:6:72: steps.a.retry.max_delay: 30 is read as a number; quote it: "30"',
      'slipway.yml:7:14: steps.a.timeout: 90 is read as a number; quote it: "90"',
      'slipway.yml:10:23: steps.c.retry.attempts: expected a positive integer, got 1.5',
      'slipway.yml:10:35: steps.c.retry.delay: expected a duration like 90s, 5m, 2h, 1h30m or 500ms, got "5M"',
      'slipway.yml:11:14: steps.c.timeout: expected a duration longer than 0, got "0s"',
    ]);
  });
});

describe('script files', () => {
  const head = ['name: x', 'activities:', '  b: {init: scripts/init.sh, cleanup: scripts/gone.sh}', 'steps:'];

  it('must exist as regular files inside the source tree', () => {
    const text = yaml(
      ...head,
      '  a: {run: scripts/missing.sh, done_if: ./check}',
      '  c: {run: /usr/bin/build.sh}',
      '  d: {run: ../outside.sh}',
      '  e: {run: scripts/, done_if: {run: deep/../../x.py}}',
    );
    expect(mistakes(text, ['scripts/init.sh'])).toEqual([
      expect.stringMatching(/^slipway\.yml:3:39: activities\.b\.cleanup: script file scripts\/gone\.sh not found in \/.*\/\d+$/),
      expect.stringMatching(/^slipway\.yml:5:12: steps\.a\.run: script file scripts\/missing\.sh not found in /),
      expect.stringMatching(/^slipway\.yml:5:41: steps\.a\.done_if: script file check not found in /),
      'slipway.yml:6:12: steps.c.run: script path /usr/bin/build.sh must be relative to the source tree (the directory holding the pipeline file)',
      'slipway.yml:7:12: steps.d.run: script path ../outside.sh leads outside the source tree',
      'slipway.yml:8:12: steps.e.run: script scripts/ is not a regular file',
      'slipway.yml:8:37: steps.e.done_if.run: script path ../x.py leads outside the source tree',
    ]);
  });

  it('must not be links that lead out of the source tree', () => {
    const text = yaml('name: x', 'activities: {b: {}}', 'steps: {a: {run: scripts/link.sh}}');
    const dir = fixtures.tree(text, ['scripts/real.sh']);
    symlinkSync(join(fixtures.root, 'elsewhere.sh'), join(dir, 'scripts/link.sh'));
    writeFileSync(join(fixtures.root, 'elsewhere.sh'), 'true\n');
    expect(() => parsePipeline(text, 'slipway.yml', dir)).toThrow(
      'slipway.yml:3:18: steps.a.run: script file scripts/link.sh is a link that leads outside the source tree',
    );
  });
});

describe('limits', () => {
  it('rejects a file over 1 MiB before parsing it', () => {
    const text = `name: x\n${'#'.repeat(1024 * 1024)}\n`;
    expect(mistakes(text)).toEqual(['slipway.yml:1:1: the file is larger than 1 MiB']);
    const dir = fixtures.tree(text);
    expect(() => loadPipeline(join(dir, 'slipway.yml'))).toThrow(`${join(dir, 'slipway.yml')}:1:1: cannot read the pipeline file: it is larger than 1 MiB`);
  });

  it('refuses YAML nested 10,000 deep before parsing it, at the level past the limit', () => {
    const deep = 10_000;
    const forms: [string, string][] = [
      [`steps: ${'['.repeat(deep)}${']'.repeat(deep)}`, 'slipway.yml:1:70'],
      [`steps: ${'{a: '.repeat(deep)}1${'}'.repeat(deep)}`, 'slipway.yml:1:256'],
      [`steps:\n${'- '.repeat(deep)}x`, 'slipway.yml:2:129'],
      [`steps:\n${'? '.repeat(deep)}x`, 'slipway.yml:2:129'],
      [`steps:\n${'- ['.repeat(deep)}x`, 'slipway.yml:2:189'],
    ];
    for (const [text, position] of forms) {
      expect(mistakes(`${text}\n`)).toEqual([`${position}: the YAML nests deeper than 64 levels`]);
    }
  });

  it('refuses 1 MiB of nesting at once, which held the event loop for seconds', () => {
    const text = `steps: ${'['.repeat(500_000)}${']'.repeat(500_000)}\n`.slice(0, 1024 * 1024);
    // Refused before the parser sees it (it alone took six seconds): `node bench/pipeline.ts` times it.
    expect(mistakes(text)).toEqual(['slipway.yml:1:70: the YAML nests deeper than 64 levels']);
  });

  it('counts nothing inside strings, comments or scripts, and takes as deep a pipeline as is useful', () => {
    const brackets = '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[';
    const pipeline = fixtures.parse(yaml(
      'name: x',
      `matrix: {v: ["${brackets}", '${brackets}x'], w: [a]}  # ${brackets}`,
      'activities:',
      '  b:',
      '    provider: ec2',
      '    instance: {tags: {a: {b: {c: {d: [[[[[[[[[[1]]]]]]]]]]}}}}}',
      'steps:',
      '  a:',
      '    over: [v, w]',
      '    run: |',
      `      echo ${brackets}`,
      ...Array.from({ length: 70 }, (_, i) => `      ${' '.repeat(i)}- ${brackets}`),
    ));
    expect(pipeline.matrix['v']).toEqual([brackets, `${brackets}x`]);
  });

  it('rejects more than 10,000 tasks at the step that crosses the limit', () => {
    const values = (n: number) => `[${Array.from({ length: n }, (_, i) => `v${i}`).join(', ')}]`;
    const text = yaml(
      'name: x',
      `matrix: {a: ${values(100)}, b: ${values(100)}}`,
      'activities: {b: {}}',
      'steps:',
      '  one: {run: make, over: [a, b]}',
      '  two: {run: make}',
      '  three: {run: make, over: [a], exclude: [{a: v0}]}',
    );
    expect(mistakes(text)).toEqual([
      'slipway.yml:6:3: steps.two: the pipeline expands to 10,101 tasks (counted before exclude); at most 10,000 are allowed',
    ]);
    const huge = yaml('name: x', `matrix: {${Array.from({ length: 60 }, (_, i) => `a${i}: [x, y]`).join(', ')}}`, 'activities: {b: {}}', 'steps:', `  s: {run: make, over: [${Array.from({ length: 60 }, (_, i) => `a${i}`).join(', ')}]}`);
    expect(mistakes(huge)).toEqual([
      'slipway.yml:5:24: steps.s.over: the pipeline expands to more than 10^15 tasks (counted before exclude); at most 10,000 are allowed',
    ]);
  });

  it('stops an alias bomb without expanding it', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (const [name, previous] of [['b', 'a'], ['c', 'b'], ['d', 'c'], ['e', 'd'], ['f', 'e'], ['g', 'f'], ['h', 'g'], ['i', 'h']]) {
      levels.push(`${name}: &${name} [${Array(10).fill(`*${previous}`).join(', ')}]`);
    }
    expect(mistakes(yaml('name: x', ...levels))).toEqual(['slipway.yml:3:8: aliases expand the file to more than 100,000 values']);
  });

  it('refuses a list or mapping of more than 10,000 entries before parsing it, at the entry past the limit', () => {
    const entries = "this list has more than 10,000 entries, the most one list or mapping may have";
    const flow = (n: number) => `[${Array(n).fill('"1"').join(',')}]`;
    expect(mistakes(`name: x\nmatrix: {a: ${flow(10_001)}}\n`)).toEqual([`slipway.yml:2:${'matrix: {a: ['.length + 1 + 4 * 10_000}: ${entries}`]);
    expect(mistakes(`name: x\nsteps:\n  a:\n    needs:\n${'      - b\n'.repeat(10_001)}`)).toEqual([`slipway.yml:${5 + 10_000}:7: ${entries}`]);
    const keys = Array.from({ length: 10_001 }, (_, i) => `      K${i}: v`).join('\n');
    expect(mistakes(`name: x\nsteps:\n  a:\n    env:\n${keys}\n`)).toEqual([`slipway.yml:${5 + 10_000}:7: ${entries.replace('list', 'mapping')}`]);
    expect(mistakes(`name: x\nenv: {${Array.from({ length: 10_001 }, (_, i) => `K${i}: v`).join(', ')}}\n`)[0]).toMatch(/^slipway\.yml:2:\d+: this mapping has more than 10,000 entries/);
    // Ten thousand are fine, and commas inside a string separate nothing.
    const pipeline = fixtures.parse(yaml(
      'name: x',
      `matrix: {v: ["${','.repeat(20_000)}", ${Array.from({ length: 9_999 }, (_, i) => `v${i}`).join(', ')}]}`,
      'activities: {b: {}}',
      'steps: {a: {run: make, over: [v]}}',
    ));
    expect(pipeline.matrix['v']).toHaveLength(10_000);
  });

  it('refuses a file of more than 100,000 values before parsing it, and with aliases expanded', () => {
    // name, x, matrix, then each axis its key, its list and 9,999 numbers: the 100,001st value is a9's 9,987th number.
    const lists = Array.from({ length: 11 }, (_, i) => `  a${i}: [${Array(9_999).fill('1').join(',')}]`);
    expect(mistakes(yaml('name: x', 'matrix:', ...lists))).toEqual([
      `slipway.yml:12:${'  a9: ['.length + 1 + 2 * 9_986}: the file holds more than 100,000 values, the most a pipeline file may hold`,
    ]);
    const aliased = ['  a0: &n [' + Array(9_999).fill('"1"').join(',') + ']', ...Array.from({ length: 10 }, (_, i) => `  a${i + 1}: *n`)];
    expect(mistakes(yaml('name: x', 'matrix:', ...aliased))).toEqual(['slipway.yml:4:7: aliases expand the file to more than 100,000 values']);
  });

  // How long it takes is `node bench/pipeline.ts`'s to say (about two seconds).
  it('checks the largest file the limits let through, without overflowing the stack', () => {
    // Nine lists of 9,999 numbers: each value a mistake of its own for the schema check.
    const lists = Array.from({ length: 9 }, (_, i) => `  a${i}: [${Array(9_999).fill('1').join(',')}]`);
    const aliased = ['  a0: &n [' + Array(9_999).fill('1').join(',') + ']', ...Array.from({ length: 8 }, (_, i) => `  a${i + 1}: *n`)];
    for (const [text, column] of [[yaml('name: x', 'matrix:', ...lists), 8], [yaml('name: x', 'matrix:', ...aliased), 11]] as const) {
      const found = mistakes(text);
      expect(found).toHaveLength(101);
      expect(found[0]).toBe(`slipway.yml:3:${column}: matrix.a0[0]: 1 is read as a number; quote it: "1"`);
    }
  });

  it('stops aliases used more often than the yaml library allows', () => {
    const text = yaml('name: x', 'env: &e x', `uses: [${Array(1001).fill('*e').join(', ')}]`);
    expect(mistakes(text)).toEqual(['slipway.yml:3:8: aliases are used too often (more than 1000 times, counting nested ones)']);
  });

  it('rejects more than 1,000 exclude entries in a step', () => {
    const entries = Array.from({ length: 1001 }, () => '{v: x}').join(', ');
    expect(mistakes(yaml('name: x', 'matrix: {v: [x, y]}', 'activities: {b: {}}', 'steps:', `  a: {run: make, over: [v], exclude: [${entries}]}`))).toEqual([
      'slipway.yml:5:38: steps.a.exclude: expected at most 1000 entries, got a list',
    ]);
  });

  it('rejects names over 100 characters', () => {
    const long = 'a'.repeat(101);
    const text = yaml(`name: ${long}`, `matrix: {${long}: [x]}`, `activities: {${long}: {}}`, `steps: {${long}: {run: make}}`);
    expect(mistakes(text)).toEqual([
      `slipway.yml:1:7: name: pipeline name is longer than 100 characters, got "${'a'.repeat(57)}..."`,
      `slipway.yml:2:10: matrix.${long}: axis name is longer than 100 characters`,
      `slipway.yml:3:14: activities.${long}: activity name is longer than 100 characters`,
      `slipway.yml:4:9: steps.${long}: step name is longer than 100 characters`,
    ]);
  });

  it('shows the first 100 mistakes of a hopeless file', () => {
    const steps = Array.from({ length: 150 }, (_, i) => `  s${i}: {run: make, needs: [nope]}`);
    const found = mistakes(yaml('name: x', 'activities: {b: {}}', 'steps:', ...steps));
    expect(found).toHaveLength(101);
    expect(found[0]).toBe("slipway.yml:4:27: steps.s0.needs[0]: unknown step 'nope'");
    expect(found[100]).toBe('slipway.yml:104:29: too many mistakes; the rest are not shown');
  });
});

describe('reporting', () => {
  it('collects every mistake in one pass, sorted by position', () => {
    const text = yaml(
      'name: x',
      'matrix: {version: ["1.0"]}',
      'activities: {b: {max_workers: -1}}',
      'steps:',
      '  test: {run: make, needs: [biuld], over: [verison]}',
      '  build: {run: scripts/build.sh, timeout: soon, colour: red}',
    );
    expect(mistakes(text)).toEqual([
      'slipway.yml:3:31: activities.b.max_workers: expected a positive integer, got -1',
      "slipway.yml:5:29: steps.test.needs[0]: unknown step 'biuld' (did you mean 'build'?)",
      "slipway.yml:5:44: steps.test.over[0]: unknown axis 'verison' (did you mean 'version'?)",
      expect.stringMatching(/^slipway\.yml:6:16: steps\.build\.run: script file scripts\/build\.sh not found in /),
      'slipway.yml:6:43: steps.build.timeout: expected a duration like 90s, 5m, 2h, 1h30m or 500ms, got "soon"',
      "slipway.yml:6:49: steps.build: unknown key 'colour'",
    ]);
  });

  it('throws a PipelineError whose diagnostics match its message, naming the file as given', () => {
    const dir = fixtures.tree(yaml('name: x', 'steps: {a: {run: make, activity: nope}}'));
    const file = relative(process.cwd(), join(dir, 'slipway.yml'));
    let error: unknown;
    try {
      loadPipeline(file);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(PipelineError);
    const { diagnostics, message } = error as PipelineError;
    expect(diagnostics).toEqual([
      { file, line: 2, column: 34, message: "steps.a.activity: unknown activity 'nope'; defined: control" },
    ]);
    expect(message).toBe(`${file}:2:34: steps.a.activity: unknown activity 'nope'; defined: control`);
  });

  it('reports a file it cannot read', () => {
    const file = join(fixtures.root, 'absent.yml');
    expect(() => loadPipeline(file)).toThrow(`${file}:1:1: cannot read the pipeline file: no such file`);
    mkdirSync(join(fixtures.root, 'dir.yml'));
    expect(() => loadPipeline(join(fixtures.root, 'dir.yml'))).toThrow(
      `${join(fixtures.root, 'dir.yml')}:1:1: cannot read the pipeline file: it is a directory`,
    );
    // Opening a FIFO to read it would wait for a writer forever.
    const fifo = join(fixtures.root, 'fifo.yml');
    execFileSync('mkfifo', [fifo]);
    expect(() => loadPipeline(fifo)).toThrow(`${fifo}:1:1: cannot read the pipeline file: it is a FIFO, not a regular file`);
  });
});

describe('artifacts', () => {
  it('takes paths and globs inside the task\'s tree, and says where one leads out of it', () => {
    expect(mistakes(yaml(
      'name: x', 'activities: {b: {}}', 'steps:',
      '  a: {run: make, artifacts: [dist/*.whl, build/report.xml, /etc/passwd, ../up, dist/../../x, "", 3]}',
    ))).toEqual([
      `slipway.yml:4:60: steps.a.artifacts[2]: expected a path relative to the task's tree, not an absolute one, got "/etc/passwd"`,
      `slipway.yml:4:73: steps.a.artifacts[3]: expected a path inside the task's tree: '..' is not allowed, got "../up"`,
      `slipway.yml:4:80: steps.a.artifacts[4]: expected a path inside the task's tree: '..' is not allowed, got "dist/../../x"`,
      'slipway.yml:4:94: steps.a.artifacts[5]: expected a path or glob pattern, got ""',
      'slipway.yml:4:98: steps.a.artifacts[6]: 3 is read as a number; quote it: "3"',
    ]);
  });
});

describe('caches', () => {
  it('take {{ AXIS }} of the step\'s own axes and {{ hashFiles(\'GLOB\') }}, and say what else is wrong in a key', () => {
    expect(mistakes(yaml(
      'name: x', 'matrix: { version: ["1"], distro: [a] }', 'activities: {b: {}}', 'steps:',
      '  a:',
      '    run: make',
      '    over: [version]',
      "    cache: { key: \"deps-{{ version }}-{{ distro }}-{{ hashFiles('lock') }}\", paths: [deps], restore_keys: ['{{ versoin }}', '{{ now() }}'] }",
      "  b: { run: make, cache: { key: \"{{ hashFiles(lock) }}\", paths: [/abs] } }",
      "  c: { run: make, cache: { key: \"{{ hashFiles('../x') }}\", paths: [d], extra: 1 } }",
    ))).toEqual([
      "slipway.yml:8:19: steps.a.cache.key: {{ distro }}: axis 'distro' is not in this step's over",
      "slipway.yml:8:108: steps.a.cache.restore_keys[0]: {{ versoin }}: unknown axis 'versoin' (did you mean 'version'?)",
      `slipway.yml:8:125: steps.a.cache.restore_keys[1]: {{ now() }}: expected {{ AXIS }} or {{ hashFiles('GLOB', …) }}, got "{{ now() }}"`,
      `slipway.yml:9:33: steps.b.cache.key: {{ hashFiles(lock) }}: hashFiles takes one or more 'quoted' globs, got "{{ hashFiles(lock) }}"`,
      `slipway.yml:9:66: steps.b.cache.paths[0]: expected a path relative to the task's tree, not an absolute one, got "/abs"`,
      `slipway.yml:10:33: steps.c.cache.key: {{ hashFiles('../x') }}: hashFiles reads only inside the task's tree, got "{{ hashFiles('../x') }}"`,
      "slipway.yml:10:72: steps.c.cache: unknown key 'extra'",
    ]);
  });
});
