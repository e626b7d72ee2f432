import { describe, expect, it } from 'vitest';
import { nextRun } from '../../src/engine/fair-share.ts';
import { poolIdentity } from '../../src/engine/pool-identity.ts';

describe('pool identity', () => {
  const builder = { activity: 'builder', provider: 'ec2' as const, instance: { type: 't3.large', region: 'eu-west-1' }, init: 'apt-get install -y gcc', cleanup: 'rm -rf build' };

  it('is the same for the same definition, whatever the order its settings were written in', () => {
    const reordered = { activity: 'builder', cleanup: 'rm -rf build', init: 'apt-get install -y gcc', instance: { region: 'eu-west-1', type: 't3.large' }, provider: 'ec2' as const };
    expect(poolIdentity(reordered)).toBe(poolIdentity(builder));
    expect(poolIdentity(builder)).toMatch(/^p-[0-9a-f]{16}$/);
  });

  it('differs when anything that makes workers different differs', () => {
    const variants = [
      { ...builder, activity: 'deploy' },
      { ...builder, provider: 'ssh' as const },
      { ...builder, instance: { ...builder.instance, type: 't3.xlarge' } },
      { ...builder, prepare: 'apt-get update' },
      { ...builder, init: 'apt-get install -y clang' },
      { ...builder, cleanup: undefined },
      { ...builder, scope: 'c-1234' },
    ];
    const ids = new Set([builder, ...variants].map(poolIdentity));
    expect(ids.size).toBe(variants.length + 1);
  });
});

describe('which run a free worker serves', () => {
  it('serves the oldest run when the runs hold equal shares', () => {
    expect(nextRun([{ runId: 'r-new', createdAt: 2, running: 0 }, { runId: 'r-old', createdAt: 1, running: 0 }])).toBe('r-old');
  });

  it('serves a short run submitted after a long one before the long one gets another worker', () => {
    // The long run holds both workers; one frees up, so the long run has one running.
    const long = { runId: 'r-long', createdAt: 1, running: 1 };
    const short = { runId: 'r-short', createdAt: 2, running: 0 };
    expect(nextRun([long, short])).toBe('r-short');
    // With one worker each, the older run is served first again.
    expect(nextRun([long, { ...short, running: 1 }])).toBe('r-long');
  });

  it('serves nobody when no run waits', () => {
    expect(nextRun([])).toBeUndefined();
  });
});
