import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/store.ts';
import { Sandbox, type CliResult } from '../helpers/cli.ts';
import { exampleNames, readExample } from '../helpers/examples.ts';
import { processesUnder } from '../helpers/processes.ts';

let box: Sandbox;
beforeEach(() => { box = new Sandbox(); });
afterEach(() => box.cleanup());

/** Refused input: exit 2, exactly `lines` on stderr, nothing on stdout, no stack trace. */
function expectRefused(result: CliResult, lines: string[]): void {
  expect(result.stderr).not.toMatch(/^\s+at /m);
  expect(result.stderr).not.toMatch(/\b\w*Error\b/);
  expect(result.stderr).toBe(lines.map((line) => `${line}\n`).join(''));
  expect(result.stdout).toBe('');
  expect(result.code).toBe(2);
}

const storePath = (): string => join(box.state, 'slipway', 'slipway.db');

const validPipeline = `
name: packages
matrix:
  version: ["1.0", "2.0"]
  distro: [debian, ubuntu]
activities:
  builder: { provider: local, max_workers: 2, idle_timeout: 30s }
steps:
  build:
    over: [version, distro]
    exclude: [{ version: "1.0", distro: ubuntu }]
    run: scripts/build.sh
    timeout: 1h
    retry: { attempts: 2, delay: 5s }
  package:
    needs: [build]
    over: [version]
    run: echo "package $VERSION"
  publish:
    needs: [package]
    run: echo publish
`;

// Every line number and column below is where the mistake is in this text.
const brokenPipeline = `name: broken
matrix:
  version: ["1.0", "2.0"]
  distro: [debian, ubuntu]
activities:
  builder: { provider: local, max_workers: 2, idle_timeout: 5 minutes }
  tester: { provider: local }
steps:
  build:
    activity: builder
    over: [version, distr]
    run: scripts/build.sh
    timout: 1h
  test:
    activity: tester
    needs: [package]
    over: [version]
    run: make test
    timeout: 2 hours
  package:
    activity: packager
    needs: [test]
    run: echo package
  publish:
    needs: [package]
    run: echo publish
`;

function brokenMistakes(file: string): string[] {
  return [
    `${file}:6:61: activities.builder.idle_timeout: expected a duration like 90s, 5m, 2h, 1h30m or 500ms, got "5 minutes"`,
    `${file}:11:21: steps.build.over[1]: unknown axis 'distr' (did you mean 'distro'?)`,
    `${file}:12:10: steps.build.run: script file scripts/build.sh not found in ${box.source}`,
    `${file}:13:5: steps.build: unknown key 'timout' (did you mean 'timeout'?)`,
    `${file}:19:14: steps.test.timeout: expected a duration like 90s, 5m, 2h, 1h30m or 500ms, got "2 hours"`,
    `${file}:21:15: steps.package.activity: unknown activity 'packager'; defined: builder, tester, control`,
    `${file}:22:13: steps.package.needs[0]: needs cycle: test -> package -> test`,
    `${file}:24:3: steps.publish: missing required key 'activity' (it may be left out only when one activity is defined; defined: builder, tester)`,
  ];
}

describe('slipway validate', () => {
  it('accepts a valid pipeline: exit 0, its step and task counts on stdout, nothing on stderr', async () => {
    box.write({ 'slipway.yml': validPipeline, 'scripts/build.sh': '#!/bin/bash\nmake\n' });
    // As a user types it: a path relative to where they stand, echoed back as typed.
    const result = await box.run(['validate', 'src/slipway.yml']);
    expect(result).toEqual({ code: 0, stdout: 'src/slipway.yml: pipeline packages is valid: 3 steps, 6 tasks\n', stderr: '' });
  });

  it('reports every mistake as file:line:column: message on stderr, exit 2, nothing on stdout, no stack trace', async () => {
    box.write({ 'slipway.yml': brokenPipeline });
    const result = await box.run(['validate', 'src/slipway.yml']);
    expectRefused(result, brokenMistakes('src/slipway.yml'));
  });

  it('reports a YAML syntax error at its position', async () => {
    box.write({ 'slipway.yml': 'name: x\nsteps: [a\nb: 1\n' });
    const result = await box.run(['validate', 'src/slipway.yml']);
    expectRefused(result, ['src/slipway.yml:3:1: Flow sequence in block collection must be sufficiently indented and end with a ]']);
  });

  it('takes a directory for the slipway.yml it holds', async () => {
    box.write({ 'slipway.yml': validPipeline, 'scripts/build.sh': '#!/bin/bash\nmake\n' });
    const result = await box.run(['validate', 'src']);
    expect(result).toEqual({ code: 0, stdout: 'src/slipway.yml: pipeline packages is valid: 3 steps, 6 tasks\n', stderr: '' });
  });

  it('names a file that does not exist, or the slipway.yml a directory lacks', async () => {
    expectRefused(await box.run(['validate', 'nope.yml']), ['nope.yml:1:1: cannot read the pipeline file: no such file']);
    mkdirSync(box.source);
    expectRefused(await box.run(['validate', 'src']), ['src/slipway.yml:1:1: cannot read the pipeline file: no such file']);
  });

  it('takes exactly one file', async () => {
    const none = await box.run(['validate']);
    expect(none.code).toBe(2);
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain("error: missing required argument 'file'");
    const two = await box.run(['validate', 'a.yml', 'b.yml']);
    expect(two.code).toBe(2);
    expect(two.stderr).toContain("too many arguments for 'validate'");
  });
});

describe('slipway run, refusing its input', () => {
  it('an invalid pipeline: exit 2, the same positioned mistakes as validate, no store, no process', async () => {
    const file = box.write({ 'slipway.yml': brokenPipeline });
    const result = await box.run(['run', file, '--json']);
    expectRefused(result, brokenMistakes(file));
    expect((await box.run(['validate', file])).stderr).toBe(result.stderr);
    // Refused before anything started: no coordinator (it would have made the store), no worker.
    expect(existsSync(box.state)).toBe(false);
    expect(processesUnder(box.dir.path)).toEqual([]);
  });

  it('a selection that names an unknown axis, value or step, or is malformed: exit 2, one line naming the problem', async () => {
    const file = box.write({ 'slipway.yml': validPipeline, 'scripts/build.sh': 'make\n' });
    const cases: [string[], string][] = [
      [['--set', 'verison=1.0'], "unknown axis 'verison' (did you mean 'version'?); axes are: version, distro"],
      [['--set', 'version=1.0', '--set', 'arch=arm64'], "unknown axis 'arch'; axes are: version, distro"],
      [['--only', 'biuld'], "unknown step 'biuld'; steps are: build, package, publish"],
      [['--only', 'build,nope,pubish'], "unknown steps 'nope', 'pubish'; steps are: build, package, publish"],
      [['--set', 'version'], "--set takes AXIS=VALUE[,VALUE…], not 'version'"],
      [['--set', '=1.0'], "--set takes AXIS=VALUE[,VALUE…], not '=1.0'"],
      [['--set', 'version=,'], "no values selected for axis 'version'"],
      [['--only', ','], 'no steps selected'],
      [['--exclude', 'distr=debian'], "--exclude distr=debian: unknown axis 'distr' (did you mean 'distro'?); axes are: version, distro"],
      [['--exclude', 'distro=debain'], "--exclude distro=debain: axis 'distro' has no value 'debain' (did you mean 'debian'?); its values are: debian, ubuntu"],
      [['--exclude', 'distro=debian', '--exclude', 'distro=ubuntu'],
        "--exclude distro=debian,ubuntu: every value of axis 'distro' is excluded, which leaves no task of the steps over it"],
      [['--exclude', 'distro'], "--exclude takes AXIS=VALUE[,VALUE…], not 'distro'"],
      [['--heartbeat-timeout', 'soon'], '--heartbeat-timeout: not a duration: "soon" (write e.g. 90s, 5m, 2h, 1h30m, 500ms)'],
    ];
    for (const [args, message] of cases) {
      const result = await box.run(['run', file, ...args]);
      expectRefused(result, [message]);
    }
    expect(existsSync(box.state)).toBe(false);
    expect(processesUnder(box.dir.path)).toEqual([]);
  });

  it('an unknown option: exit 2, naming it', async () => {
    const file = box.write({ 'slipway.yml': validPipeline, 'scripts/build.sh': 'make\n' });
    const result = await box.run(['run', file, '--dry-run']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n')[0]).toBe("error: unknown option '--dry-run'");
    expect(existsSync(box.state)).toBe(false);
  });

  it('flags of a run on this machine, given with a server, which decides them itself: exit 2, saying what does there', async () => {
    const file = box.write({ 'slipway.yml': validPipeline, 'scripts/build.sh': 'make\n' });
    const cases: [string[], string][] = [
      [['--no-provision'], '--no-provision is for a run on this machine: a server starts the workers of its pools (to serve its runs by hand: slipway worker --server URL, with a worker token)'],
      [['--db', join(box.dir.path, 'other.db')], '--db is for a run on this machine: a run on a server is in the server\'s store'],
      [['--heartbeat-timeout', '10s'], '--heartbeat-timeout is for a run on this machine: a server loses a worker after its own (slipway server --heartbeat-timeout)'],
    ];
    for (const [args, message] of cases) {
      // Nothing listens there: the refusal comes before any request.
      expectRefused(await box.run(['run', file, '--server', 'http://127.0.0.1:9', ...args]), [message]);
    }
    expect(existsSync(join(box.dir.path, 'other.db'))).toBe(false);
    expect(processesUnder(box.dir.path)).toEqual([]);
  });

  it('a file that does not exist: exit 2, naming the file', async () => {
    const file = join(box.dir.path, 'missing', 'slipway.yml');
    expectRefused(await box.run(['run', file]), [`${file}:1:1: cannot read the pipeline file: no such file`]);
    expect(existsSync(box.state)).toBe(false);
    expect(processesUnder(box.dir.path)).toEqual([]);
  });
});

describe('slipway schema', () => {
  it('prints a JSON Schema that covers every key the examples use', async () => {
    const result = await box.run(['schema']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    const schema = JSON.parse(result.stdout) as {
      $schema: string; type: string; required: string[];
      properties: Record<string, { additionalProperties?: { properties?: Record<string, unknown> } }>;
    };
    expect(schema.$schema).toMatch(/^https?:\/\/json-schema\.org\//);
    expect(schema.type).toBe('object');
    expect(schema.properties.steps).toBeDefined();
    expect(schema.required).toEqual(expect.arrayContaining(['name', 'steps']));
    const stepKeys = Object.keys(schema.properties.steps!.additionalProperties?.properties ?? {});
    const activityKeys = Object.keys(schema.properties.activities!.additionalProperties?.properties ?? {});
    expect(stepKeys).toEqual(expect.arrayContaining(['activity', 'over', 'needs', 'run', 'done_if', 'retry', 'timeout', 'env', 'exclude']));

    const names = exampleNames();
    expect(names).toEqual(expect.arrayContaining(['flaky', 'hello-c']));
    for (const name of names) {
      const example = readExample(name);
      expect(Object.keys(schema.properties), `top-level keys of examples/${name}`).toEqual(expect.arrayContaining(Object.keys(example)));
      for (const step of Object.values(example.steps as Record<string, object>)) {
        expect(stepKeys, `step keys of examples/${name}`).toEqual(expect.arrayContaining(Object.keys(step)));
      }
      for (const activity of Object.values((example.activities ?? {}) as Record<string, object>)) {
        expect(activityKeys, `activity keys of examples/${name}`).toEqual(expect.arrayContaining(Object.keys(activity)));
      }
    }
  });
});

describe('help and commands', () => {
  it('--help lists every command and where to start, exit 0', async () => {
    const result = await box.run(['--help']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    for (const command of ['run', 'validate', 'schema', 'runs', 'show', 'logs', 'worker']) {
      expect(result.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    }
    expect(result.stdout).toContain('slipway run examples/hello-c/slipway.yml');
  });

  it('run --help states the exit codes and gives examples, exit 0', async () => {
    const result = await box.run(['run', '--help']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('Usage: slipway run [options] <file>');
    expect(result.stdout).toContain('Exit codes: 0 every task succeeded or was skipped, 1 some task failed, 2 invalid input, 130 cancelled.');
    expect(result.stdout).toContain('Examples:');
    expect(result.stdout).toContain('slipway run slipway.yml --only build --set version=4.29.0 --force');
    for (const option of ['--json', '--only', '--set', '--exclude', '--force', '--fake-workers', '--db']) expect(result.stdout).toContain(option);
  });

  it('--version prints the version', async () => {
    const result = await box.run(['--version']);
    expect(result).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' });
  });

  it('an unknown command exits 2 and suggests the nearest one', async () => {
    const typo = await box.run(['lgos', 'r-1234']);
    expect(typo.code).toBe(2);
    expect(typo.stdout).toBe('');
    expect(typo.stderr).toContain("error: unknown command 'lgos'");
    expect(typo.stderr).toContain('(Did you mean logs?)');
    const unknown = await box.run(['deploy']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("error: unknown command 'deploy'");
  });

  it('no command at all prints the usage on stderr and exits 2', async () => {
    const result = await box.run([]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('Usage: slipway [options] [command]');
  });
});

describe('reading past runs', () => {
  it('runs, show and logs where nothing has run yet: exit 2, saying so, and creating nothing', async () => {
    const message = `no store at ${storePath()}: nothing has run here yet (or pass --db PATH)`;
    expectRefused(await box.run(['runs']), [message]);
    expectRefused(await box.run(['show', 'r-3f2a9c1b']), [message]);
    expectRefused(await box.run(['logs', 'r-3f2a9c1b', 'build']), [message]);
    const elsewhere = join(box.dir.path, 'other.db');
    expectRefused(await box.run(['runs', '--db', elsewhere]), [`no store at ${elsewhere}: nothing has run here yet (or pass --db PATH)`]);
    expect(existsSync(box.state)).toBe(false);
    expect(existsSync(elsewhere)).toBe(false);
  });

  it('show and logs on a run that does not exist: exit 2, no run …', async () => {
    // The store `slipway run` leaves behind, before any run is in it.
    await (await openSqliteStore(storePath())).close();
    expect(await box.run(['runs'])).toEqual({ code: 0, stdout: 'no runs\n', stderr: '' });
    expect(await box.run(['runs', '--json'])).toEqual({ code: 0, stdout: '[]\n', stderr: '' });
    expectRefused(await box.run(['show', 'r-0000abcd']), ['no run r-0000abcd']);
    expectRefused(await box.run(['show', 'r-0000abcd', '--json']), ['no run r-0000abcd']);
    expectRefused(await box.run(['logs', 'r-0000abcd']), ['no run r-0000abcd']);
    expectRefused(await box.run(['logs', 'r-0000abcd', 'build']), ['no run r-0000abcd']);
    expectRefused(await box.run(['show', 'latest']), ["'latest' is not a run id (they look like r-3f2a9c1b)"]);
    expectRefused(await box.run(['runs', '--limit', '0']), ["--limit takes a whole number from 1 to 500, not '0'"]);
  });
});


describe('a reader that stops early', () => {
  it('ends the command quietly, as `slipway --help | head -1` does', async () => {
    const box = new Sandbox();
    try {
      const child = box.spawn(['instances', '--help']);
      // Closed before the command writes a byte: every write it makes meets EPIPE.
      child.stdout!.destroy();
      const result = await child.result;
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
    } finally {
      box.cleanup();
    }
  });
});
