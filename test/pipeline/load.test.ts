import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPipeline } from '../../src/pipeline/load.ts';
import type { Activity, Pipeline } from '../../src/pipeline/types.ts';
import { DESIGN_EXAMPLE, DESIGN_SCRIPTS, Fixtures, yaml } from './fixtures.ts';

const fixtures = new Fixtures();
afterAll(() => fixtures.remove());

const CONTROL: Activity = { name: 'control', provider: 'local', maxWorkers: 4, idleTimeoutMs: 30_000 };
const DEFAULT_RETRY = { attempts: 3, delayMs: 60_000, backoff: 5, maxDelayMs: 30 * 60_000 };


describe('loadPipeline', () => {
  it('reads every key of the design example', () => {
    const dir = fixtures.tree(DESIGN_EXAMPLE, DESIGN_SCRIPTS);
    const expected: Pipeline = {
      name: 'packages',
      file: join(dir, 'slipway.yml'),
      sourceDir: dir,
      matrix: { version: ['4.28.2', '4.29.0'], distro: ['ubuntu-22.04', 'debian-12'] },
      activities: {
        builder: {
          name: 'builder',
          provider: 'local',
          maxWorkers: 4,
          idleTimeoutMs: 120_000,
          init: { kind: 'file', path: 'scripts/mount-cache.sh' },
          cleanup: { kind: 'file', path: 'scripts/unmount.sh' },
          instance: { type: 'c5.9xlarge' },
        },
        control: CONTROL,
      },
      steps: {
        'build-source': {
          name: 'build-source',
          activity: 'builder',
          over: ['version'],
          needs: [],
          exclude: [],
          run: { kind: 'file', path: 'scripts/build-source.sh' },
          doneIf: { script: { kind: 'file', path: 'scripts/has-source.sh' }, activity: 'control' },
          retry: DEFAULT_RETRY,
          timeoutMs: 2 * 3_600_000,
          env: { CHANNEL: 'stable' },
        },
        'build-binary': {
          name: 'build-binary',
          activity: 'builder',
          over: ['version', 'distro'],
          needs: ['build-source'],
          exclude: [{ version: '4.28.2', distro: 'debian-12' }],
          run: { kind: 'inline', text: './configure --version "$VERSION"\nmake package DISTRO="$DISTRO"\n' },
          retry: DEFAULT_RETRY,
          timeoutMs: null,
          env: {},
        },
      },
    };
    expect(loadPipeline(join(dir, 'slipway.yml'))).toStrictEqual(expected);
  });

  it('keeps steps, axes and activities in the order written', () => {
    const pipeline = fixtures.parse(
      yaml('name: x', 'matrix: {z: [b, a], a: [y, x]}', 'activities: {zz: {}, aa: {}}', 'steps:', '  z: {run: make, activity: aa}', '  a: {run: make, activity: zz}'),
    );
    expect(Object.keys(pipeline.matrix)).toEqual(['z', 'a']);
    expect(pipeline.matrix.z).toEqual(['b', 'a']);
    expect(Object.keys(pipeline.activities)).toEqual(['zz', 'aa', 'control']);
    expect(Object.keys(pipeline.steps)).toEqual(['z', 'a']);
  });
});

describe('defaults', () => {
  it('fills in every optional key', () => {
    const pipeline = fixtures.parse(yaml('name: tiny', 'activities:', '  pool: {}', 'steps:', '  only: {run: make}'));
    expect(pipeline.matrix).toEqual({});
    expect(pipeline.activities).toStrictEqual({
      pool: { name: 'pool', provider: 'local', maxWorkers: 2, idleTimeoutMs: 120_000 },
      control: CONTROL,
    });
    expect(pipeline.steps.only).toStrictEqual({
      name: 'only',
      activity: 'pool',
      over: [],
      needs: [],
      exclude: [],
      run: { kind: 'inline', text: 'make' },
      retry: DEFAULT_RETRY,
      timeoutMs: null,
      env: {},
    });
  });

  it('fills in the retry fields left out', () => {
    const pipeline = fixtures.parse(yaml('name: x', 'activities: {b: {}}', 'steps:', '  a: {run: make, retry: {attempts: 5, max_delay: 1h}}'));
    expect(pipeline.steps.a!.retry).toEqual({ attempts: 5, delayMs: 60_000, backoff: 5, maxDelayMs: 3_600_000 });
  });

  it('runs done_if on control unless it names an activity, which may be control', () => {
    const pipeline = fixtures.parse(
      yaml(
        'name: x',
        'activities: {b: {}, big: {provider: ec2}}',
        'steps:',
        '  a: {run: make, activity: b, done_if: {run: test -f out}}',
        '  c: {run: make, activity: control, done_if: {run: test -f out, activity: big}}',
      ),
    );
    expect(pipeline.steps.a!.doneIf).toEqual({ script: { kind: 'inline', text: 'test -f out' }, activity: 'control' });
    expect(pipeline.steps.c!.activity).toBe('control');
    expect(pipeline.steps.c!.doneIf!.activity).toBe('big');
  });

  it('runs done_if on the step\'s own activity when every activity is remote, so nothing runs on the coordinator', () => {
    const pipeline = fixtures.parse(
      yaml(
        'name: x',
        'activities: {hosts: {provider: ssh}, big: {provider: ec2}}',
        'steps:',
        '  a: {run: make, activity: hosts, done_if: test -f out}',
        '  b: {run: make, activity: big, done_if: {run: test -f out}}',
        '  c: {run: make, activity: big, done_if: {run: test -f out, activity: hosts}}',
        '  d: {run: make, activity: control, done_if: test -f out}',
      ),
    );
    const checks = Object.fromEntries(Object.values(pipeline.steps).map((s) => [s.name, s.doneIf!.activity]));
    expect(checks).toEqual({ a: 'hosts', b: 'big', c: 'hosts', d: 'control' });
    expect(pipeline.activities.hosts!.provider).toBe('ssh');
    expect(pipeline.activities.big!.provider).toBe('ec2');
  });

  it('keeps done_if on control when one activity is local, as written or by default', () => {
    for (const local of ['{}', '{provider: local}']) {
      const pipeline = fixtures.parse(
        yaml('name: x', `activities: {here: ${local}, hosts: {provider: ssh}}`, 'steps:', '  a: {run: make, activity: hosts, done_if: test -f out}'),
      );
      expect(pipeline.steps.a!.doneIf!.activity).toBe('control');
      expect(pipeline.activities.control).toEqual(CONTROL);
    }
  });
});

describe('durations and scripts', () => {
  it('reads every duration field', () => {
    const pipeline = fixtures.parse(
      yaml('name: x', 'activities: {b: {idle_timeout: 90s}}', 'steps:', '  a: {run: make, timeout: 1h30m, retry: {delay: 500ms, max_delay: 2h}}'),
    );
    expect(pipeline.activities.b!.idleTimeoutMs).toBe(90_000);
    expect(pipeline.steps.a!.timeoutMs).toBe(5_400_000);
    expect(pipeline.steps.a!.retry).toMatchObject({ delayMs: 500, maxDelayMs: 7_200_000 });
  });

  it('tells script files from inline scripts, normalizing file paths', () => {
    const text = yaml(
      'name: x',
      'activities: {b: {init: ./scripts/../scripts/init.sh}}',
      'steps:',
      '  a: {run: configure, done_if: ./configure}',
      '  c: {run: make -j4, done_if: check.py}',
      '  d: {run: "echo a/b", done_if: "tools/check"}',
      '  e:',
      '    run: |',
      '      scripts/init.sh',
      '    done_if: |',
      '      test -f a',
      '      test -f b',
    );
    const pipeline = fixtures.parse(text, ['scripts/init.sh', 'configure', 'check.py', 'tools/check']);
    const runs = Object.values(pipeline.steps).map((step) => [step.run, step.doneIf!.script]);
    expect(pipeline.activities.b!.init).toEqual({ kind: 'file', path: 'scripts/init.sh' });
    expect(runs).toEqual([
      [{ kind: 'inline', text: 'configure' }, { kind: 'file', path: 'configure' }],
      [{ kind: 'inline', text: 'make -j4' }, { kind: 'file', path: 'check.py' }],
      [{ kind: 'inline', text: 'echo a/b' }, { kind: 'file', path: 'tools/check' }],
      [{ kind: 'file', path: 'scripts/init.sh' }, { kind: 'inline', text: 'test -f a\ntest -f b\n' }],
    ]);
  });
});

describe('YAML conveniences', () => {
  it('follows anchors, aliases and merge keys', () => {
    const text = yaml(
      'name: x',
      'activities: {b: {}}',
      'steps:',
      '  a: &common {run: make, env: &env {OUT: /tmp/out}, retry: {attempts: 2}}',
      '  c: {<<: *common, env: *env, timeout: 5m}',
    );
    const pipeline = fixtures.parse(text);
    expect(pipeline.steps.c).toMatchObject({ run: { kind: 'inline', text: 'make' }, env: { OUT: '/tmp/out' }, timeoutMs: 300_000 });
    expect(pipeline.steps.c!.retry.attempts).toBe(2);
  });

  it('points at mistakes inside merged content', () => {
    const text = yaml('name: x', 'activities: {b: {}}', 'defaults: &d {run: make}', 'steps:', '  a: {<<: *d, retri: 2}');
    expect(fixtures.mistakes(text)).toEqual([
      "slipway.yml:3:1: unknown key 'defaults'",
      "slipway.yml:5:15: steps.a: unknown key 'retri' (did you mean 'retry'?)",
    ]);
  });
});
