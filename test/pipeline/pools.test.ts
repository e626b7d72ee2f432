/**
 * `pool: NAME`: an activity takes its machines from an operator's pool in the config, and a
 * server may refuse pipelines that define their own.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { stepOnControl } from '../../src/pipeline/assemble.ts';
import { PipelineError } from '../../src/pipeline/errors.ts';
import { parsePipeline } from '../../src/pipeline/load.ts';
import type { OperatorPool, PipelineRules } from '../../src/pipeline/types.ts';
import { Fixtures, yaml } from './fixtures.ts';

const fixtures = new Fixtures();
afterAll(() => fixtures.remove());

const POOLS: Record<string, OperatorPool> = {
  linux: {
    provider: 'ec2', maxWorkers: 8, minIdle: 1, idleTimeoutMs: 600_000, maxLifetimeMs: 6 * 3600_000,
    instance: { type: 'c6i.large' }, init: { kind: 'inline', text: 'mount /cache' }, cleanup: { kind: 'inline', text: 'umount /cache' },
  },
  small: { provider: 'local', maxWorkers: 2, minIdle: 0, idleTimeoutMs: 120_000 },
};

const parse = (text: string, rules: PipelineRules = { pools: POOLS }) => parsePipeline(text, 'slipway.yml', fixtures.tree(text), rules);

function mistakes(text: string, rules: PipelineRules = { pools: POOLS }): string[] {
  try {
    parse(text, rules);
  } catch (error) {
    if (error instanceof PipelineError) return error.message.split('\n');
    throw error;
  }
  throw new Error('the pipeline was accepted');
}

describe('an activity that names an operator\'s pool', () => {
  it('takes everything about its machines from the pool', () => {
    const pipeline = parse(yaml('name: p', 'activities:', '  builder: { pool: linux }', 'steps:', '  build: { run: make, done_if: test -e out }'));
    expect(pipeline.activities.builder).toEqual({
      name: 'builder', pool: 'linux', provider: 'ec2', maxWorkers: 8, idleTimeoutMs: 600_000, maxLifetimeMs: 6 * 3600_000,
      instance: { type: 'c6i.large' }, init: { kind: 'inline', text: 'mount /cache' }, cleanup: { kind: 'inline', text: 'umount /cache' },
    });
    // The pool's provider counts: on ec2 alone, done_if checks run on the step's own activity.
    expect(pipeline.steps.build!.doneIf!.activity).toBe('builder');
  });

  it('may stand beside activities that define their own machines', () => {
    const pipeline = parse(yaml('name: p', 'activities:', '  builder: { pool: small }', '  deploy: { max_workers: 1 }', 'steps:', '  build: { activity: builder, run: make }', '  ship: { activity: deploy, run: make ship }'));
    expect(pipeline.activities.builder!.provider).toBe('local');
    expect(pipeline.activities.deploy!.pool).toBeUndefined();
  });

  it('refuses every machine key written beside pool, at the key', () => {
    expect(mistakes(yaml(
      'name: p',
      'activities:',
      '  builder:',
      '    pool: linux',
      '    provider: ssh',
      '    max_workers: 3',
      '    init: make deps',
      'steps:',
      '  build: { run: make }',
    ))).toEqual([
      "slipway.yml:5:5: activities.builder: 'provider' cannot be written beside 'pool': the pool defines provider, max_workers, max_hourly_usd, idle_timeout, max_lifetime, prepare, init, cleanup, instance",
      "slipway.yml:6:5: activities.builder: 'max_workers' cannot be written beside 'pool': the pool defines provider, max_workers, max_hourly_usd, idle_timeout, max_lifetime, prepare, init, cleanup, instance",
      "slipway.yml:7:5: activities.builder: 'init' cannot be written beside 'pool': the pool defines provider, max_workers, max_hourly_usd, idle_timeout, max_lifetime, prepare, init, cleanup, instance",
    ]);
  });

  it('refuses an unknown pool at its name, with the names the config defines', () => {
    expect(mistakes(yaml('name: p', 'activities:', '  builder: { pool: linx }', 'steps:', '  build: { run: make }'))).toEqual([
      "slipway.yml:3:20: activities.builder.pool: unknown pool 'linx' (did you mean 'linux'?); the config defines: linux, small",
    ]);
    expect(mistakes(yaml('name: p', 'activities:', '  builder: { pool: linux }', 'steps:', '  build: { run: make }'), {})).toEqual([
      "slipway.yml:3:20: activities.builder.pool: unknown pool 'linux'; the config defines none ([pools.NAME] tables)",
    ]);
  });

  it('is a placeholder naming its pool when names are left to a server', () => {
    const pipeline = parse(yaml('name: p', 'activities:', '  builder: { pool: anything }', 'steps:', '  build: { run: make }'), { pools: 'unchecked' });
    expect(pipeline.activities.builder!.pool).toBe('anything');
  });
});

describe('a server whose pipelines may not define pools', () => {
  const rules: PipelineRules = { pools: POOLS, mayDefinePools: false };

  it('refuses an activity that defines its own machines, naming it and the pools there are', () => {
    expect(mistakes(yaml('name: p', 'activities:', '  builder: { pool: linux }', '  big:', '    provider: ec2', '    instance: { type: x2idn.32xlarge }', 'steps:', '  build: { activity: big, run: make }'), rules)).toEqual([
      "slipway.yml:4:3: activities.big: activity 'big' defines its own machines, which this server does not allow: name one of the operator's pools instead (pool: NAME; defined: linux, small)",
    ]);
    // An activity written with no keys at all still defines its own (local) machines.
    expect(mistakes(yaml('name: p', 'activities:', '  builder: {}', 'steps:', '  build: { run: make }'), rules)).toHaveLength(1);
  });

  it('accepts a pipeline whose activities all name pools: its checks run where the pool is', () => {
    const remote = parse(yaml('name: p', 'activities:', '  builder: { pool: linux }', 'steps:', '  build: { run: make, done_if: test -e out }'), rules);
    expect(remote.steps.build!.doneIf!.activity).toBe('builder');
    expect(stepOnControl(remote)).toBeUndefined();
    // An operator's local pool runs code on this host anyway: checks run on control, as the operator chose.
    const local = parse(yaml('name: p', 'activities:', '  builder: { pool: small }', 'steps:', '  build: { run: make, done_if: test -e out }'), rules);
    expect(local.steps.build!.doneIf!.activity).toBe('control');
    expect(stepOnControl(local)).toBeUndefined();
  });

  it('refuses a step or a check that names control, which would run on the server\'s own host', () => {
    const refusal = "'control' runs on the server's own host, which this server does not allow: name one of the operator's pools' activities instead";
    expect(mistakes(yaml('name: p', 'activities:', '  builder: { pool: linux }', 'steps:', '  build: { run: make, done_if: { run: test -e out, activity: control } }', '  tag: { activity: control, run: git tag v1 }'), rules)).toEqual([
      `slipway.yml:5:62: steps.build.done_if.activity: ${refusal}`,
      `slipway.yml:6:20: steps.tag.activity: ${refusal}`,
    ]);
    // The coordinator finds the same in a pipeline given to it already parsed.
    const named = parse(yaml('name: p', 'activities:', '  builder: { pool: linux }', 'steps:', '  build: { run: make, done_if: { run: test -e out, activity: control } }'), { pools: POOLS });
    expect(stepOnControl(named)).toBe('build');
  });
});
