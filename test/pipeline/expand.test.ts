import { describe, expect, it } from 'vitest';
import { expandTasks, SelectionError } from '../../src/pipeline/expand.ts';
import type { Pipeline, Step } from '../../src/pipeline/types.ts';

const retry = { attempts: 3, delayMs: 60_000, backoff: 5, maxDelayMs: 1_800_000 };

/** A pipeline built in code: expansion does not care where a pipeline came from. */
function pipeline(matrix: Record<string, string[]>, steps: (Partial<Step> & { name: string })[]): Pipeline {
  return {
    name: 'test',
    file: '/src/slipway.yml',
    sourceDir: '/src',
    matrix,
    activities: { control: { name: 'control', provider: 'local', maxWorkers: 4, idleTimeoutMs: 30_000 } },
    steps: Object.fromEntries(
      steps.map((step) => [
        step.name,
        { activity: 'control', over: [], needs: [], exclude: [], run: { kind: 'inline', text: 'true' }, retry, timeoutMs: null, env: {}, ...step },
      ]),
    ),
  };
}

const packages = pipeline({ version: ['1.0', '2.0'], distro: ['debian', 'ubuntu'], arch: ['amd64', 'arm64'] }, [
  { name: 'source', over: ['version'] },
  { name: 'binary', over: ['version', 'distro'], needs: ['source'], exclude: [{ version: '1.0', distro: 'ubuntu' }] },
  { name: 'docs' },
  { name: 'release', needs: ['binary', 'docs'] },
]);

const keys = (p: Pipeline, selection = {}) => expandTasks(p, selection).map((task) => task.key);
const needsOf = (p: Pipeline, selection = {}) =>
  Object.fromEntries(expandTasks(p, selection).map((task) => [task.key, task.needs]));

describe('expandTasks', () => {
  it('makes one task per combination, first axis slowest, minus excludes, steps in file order', () => {
    expect(expandTasks(packages).map(({ key, step, matrix }) => ({ key, step, matrix }))).toEqual([
      { key: 'source[version=1.0]', step: 'source', matrix: { version: '1.0' } },
      { key: 'source[version=2.0]', step: 'source', matrix: { version: '2.0' } },
      { key: 'binary[version=1.0,distro=debian]', step: 'binary', matrix: { version: '1.0', distro: 'debian' } },
      { key: 'binary[version=2.0,distro=debian]', step: 'binary', matrix: { version: '2.0', distro: 'debian' } },
      { key: 'binary[version=2.0,distro=ubuntu]', step: 'binary', matrix: { version: '2.0', distro: 'ubuntu' } },
      { key: 'docs', step: 'docs', matrix: {} },
      { key: 'release', step: 'release', matrix: {} },
    ]);
  });

  it('orders a key by the step’s over, not the matrix', () => {
    const p = pipeline({ a: ['1', '2'], b: ['x', 'y'] }, [{ name: 's', over: ['b', 'a'], exclude: [{ a: '1' }] }]);
    expect(keys(p)).toEqual(['s[b=x,a=2]', 's[b=y,a=2]']);
  });

  it('waits for the needed tasks that agree on the shared axes', () => {
    expect(needsOf(packages)).toMatchObject({
      'source[version=1.0]': [],
      'binary[version=1.0,distro=debian]': ['source[version=1.0]'],
      'binary[version=2.0,distro=debian]': ['source[version=2.0]'],
      'binary[version=2.0,distro=ubuntu]': ['source[version=2.0]'],
    });
  });

  it('waits for every task of a needed step that shares no axis', () => {
    expect(needsOf(packages)).toMatchObject({
      docs: [],
      release: ['binary[version=1.0,distro=debian]', 'binary[version=2.0,distro=debian]', 'binary[version=2.0,distro=ubuntu]', 'docs'],
    });
  });

  it('matches only the shared axes when the needed step fans out wider or differently', () => {
    const p = pipeline({ version: ['1', '2'], config: ['debug', 'release'], arch: ['x86', 'arm'] }, [
      { name: 'build', over: ['version', 'config'] },
      { name: 'test', over: ['arch', 'version'], needs: ['build'] },
    ]);
    expect(needsOf(p)['test[arch=arm,version=2]']).toEqual(['build[version=2,config=debug]', 'build[version=2,config=release]']);
  });

  it('points needs at later steps too', () => {
    const p = pipeline({}, [{ name: 'late-user', needs: ['early'] }, { name: 'early' }]);
    expect(needsOf(p)).toEqual({ 'late-user': ['early'], early: [] });
  });
});

describe('manual selection', () => {
  it('only: runs the chosen steps; needs outside the selection count as done', () => {
    expect(needsOf(packages, { only: ['binary', 'release'] })).toEqual({
      'binary[version=1.0,distro=debian]': [],
      'binary[version=2.0,distro=debian]': [],
      'binary[version=2.0,distro=ubuntu]': [],
      release: ['binary[version=1.0,distro=debian]', 'binary[version=2.0,distro=debian]', 'binary[version=2.0,distro=ubuntu]'],
    });
  });

  it('only: rejects unknown steps, naming the known ones', () => {
    expect(() => expandTasks(packages, { only: ['binary', 'bianry', 'nope'] })).toThrow(
      new SelectionError("unknown steps 'bianry', 'nope'; steps are: source, binary, docs, release"),
    );
    expect(() => expandTasks(packages, { only: [] })).toThrow(SelectionError);
  });

  it('set: restricts axes to the given values; steps not over them are unaffected', () => {
    expect(keys(packages, { set: { distro: ['debian'] } })).toEqual([
      'source[version=1.0]',
      'source[version=2.0]',
      'binary[version=1.0,distro=debian]',
      'binary[version=2.0,distro=debian]',
      'docs',
      'release',
    ]);
  });

  it('set: allows values the matrix does not have, and still honours exclude', () => {
    const selection = { set: { version: ['3.0', '1.0', '3.0'] }, only: ['source', 'binary'] };
    expect(needsOf(packages, selection)).toEqual({
      'source[version=3.0]': [],
      'source[version=1.0]': [],
      'binary[version=3.0,distro=debian]': ['source[version=3.0]'],
      'binary[version=3.0,distro=ubuntu]': ['source[version=3.0]'],
      'binary[version=1.0,distro=debian]': ['source[version=1.0]'],
    });
  });

  it('set: rejects unknown axes and empty value lists', () => {
    expect(() => expandTasks(packages, { set: { distr: ['debian'] } })).toThrow(
      new SelectionError("unknown axis 'distr' (did you mean 'distro'?); axes are: version, distro, arch"),
    );
    expect(() => expandTasks(packages, { set: { distro: [] } })).toThrow(new SelectionError("no values selected for axis 'distro'"));
  });

  it('exclude: leaves out the tasks with those values; what needs them waits only for the rest', () => {
    expect(needsOf(packages, { exclude: { distro: ['ubuntu'] } })).toEqual({
      'source[version=1.0]': [],
      'source[version=2.0]': [],
      'binary[version=1.0,distro=debian]': ['source[version=1.0]'],
      'binary[version=2.0,distro=debian]': ['source[version=2.0]'],
      docs: [],
      release: ['binary[version=1.0,distro=debian]', 'binary[version=2.0,distro=debian]', 'docs'],
    });
  });

  it('exclude: applies after set on the same axis, and may name several axes', () => {
    const selection = { set: { version: ['1.0', '3.0'] }, exclude: { version: ['1.0'], distro: ['debian'] }, only: ['source', 'binary'] };
    expect(keys(packages, selection)).toEqual(['source[version=3.0]', 'binary[version=3.0,distro=ubuntu]']);
  });

  it('exclude: rejects an unknown axis or value, naming the field and what is known, and excluding every value', () => {
    expect(() => expandTasks(packages, { exclude: { distr: ['debian'] } })).toThrow(
      new SelectionError("exclude distr=debian: unknown axis 'distr' (did you mean 'distro'?); axes are: version, distro, arch", 'exclude'),
    );
    expect(() => expandTasks(packages, { exclude: { distro: ['debain'] } })).toThrow(
      new SelectionError("exclude distro=debain: axis 'distro' has no value 'debain' (did you mean 'debian'?); its values are: debian, ubuntu", 'exclude'),
    );
    // The values a --set chose are the ones that can be excluded.
    expect(() => expandTasks(packages, { set: { version: ['2.5.1'] }, exclude: { version: ['1.0'] } })).toThrow(
      new SelectionError("exclude version=1.0: axis 'version' has no value '1.0'; its values are: 2.5.1", 'exclude'),
    );
    expect(() => expandTasks(packages, { exclude: { distro: ['ubuntu', 'debian'] } })).toThrow(
      new SelectionError("exclude distro=ubuntu,debian: every value of axis 'distro' is excluded, which leaves no task of the steps over it", 'exclude'),
    );
    expect(() => expandTasks(packages, { exclude: { distro: [] } })).toThrow(
      new SelectionError("exclude distro=: no values to exclude from axis 'distro'; its values are: debian, ubuntu", 'exclude'),
    );
  });

  it('rejects a selection that expands past the task limit', () => {
    const many = Array.from({ length: 10_001 }, (_, i) => `v${i}`);
    expect(() => expandTasks(packages, { set: { version: many }, only: ['source'] })).toThrow(
      new SelectionError('the run would have 10001 tasks; at most 10000 are allowed'),
    );
  });
});

describe('scale', () => {
  // How long it takes is `node bench/pipeline.ts`'s to say (about 150 ms: quadratic linking would take seconds).
  it('expands about 10,000 tasks with dependencies, each linked to what it needs', () => {
    const values = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
    const p = pipeline({ version: values('v', 24), distro: values('d', 20), arch: values('a', 10) }, [
      { name: 'source', over: ['version'] },
      { name: 'binary', over: ['version', 'distro', 'arch'], needs: ['source'] },
      { name: 'test', over: ['distro', 'version', 'arch'], needs: ['binary', 'source'] },
      { name: 'index', over: ['distro', 'arch'], needs: ['test'] },
      { name: 'release', needs: ['index'] },
    ]);
    const tasks = expandTasks(p);
    expect(tasks).toHaveLength(24 + 4800 + 4800 + 200 + 1);
    expect(tasks.find((t) => t.key === 'test[distro=d3,version=v7,arch=a1]')!.needs).toEqual([
      'binary[version=v7,distro=d3,arch=a1]',
      'source[version=v7]',
    ]);
    expect(tasks.find((t) => t.key === 'index[distro=d3,arch=a1]')!.needs).toHaveLength(24);
    expect(tasks.at(-1)!.needs).toHaveLength(200);
  });
});
