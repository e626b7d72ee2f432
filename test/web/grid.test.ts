import { describe, expect, it } from 'vitest';
import { columnAxes, layoutGrid } from '../../src/web/lib/grid.ts';
import type { StepShape } from '../../src/web/lib/types.ts';
import { allTasks, matrix, steps, task } from './fixtures.ts';

const cells = (layout: ReturnType<typeof layoutGrid>, step: string) =>
  layout.rows.find((r) => r.step.name === step)!.cells.map((c) => [c.task, c.span]);

describe('layoutGrid', () => {
  it('makes one column per combination and spans narrower steps over theirs', () => {
    const g = layoutGrid(steps, matrix, allTasks());
    expect(g.axes).toEqual(['version', 'config']);
    expect(g.columns).toEqual([
      { version: '1', config: 'debug' }, { version: '1', config: 'release' },
      { version: '2', config: 'debug' }, { version: '2', config: 'release' },
    ]);
    expect(g.header).toEqual([
      [{ label: '1', span: 2 }, { label: '2', span: 2 }],
      [{ label: 'debug', span: 1 }, { label: 'release', span: 1 }, { label: 'debug', span: 1 }, { label: 'release', span: 1 }],
    ]);
    expect(cells(g, 'fetch')).toEqual([['fetch', 4]]);
    expect(cells(g, 'build')).toEqual([
      ['build[version=1,config=debug]', 1], ['build[version=1,config=release]', 1],
      ['build[version=2,config=debug]', 1], ['build[version=2,config=release]', 1],
    ]);
    expect(cells(g, 'package')).toEqual([['package[version=1]', 2], ['package[version=2]', 2]]);
    expect(g.rows.map((r) => r.step.name)).toEqual(['fetch', 'build', 'test', 'package']);
  });

  it('drops a combination every full-width step excludes, and leaves a gap for a missing task', () => {
    const tasks = allTasks().filter((t) => !(t.matrix.version === '1' && t.matrix.config === 'release' && t.step !== 'test'));
    const g = layoutGrid(steps, matrix, tasks);
    // test still has version=1,config=release, so the column stays; build has a gap there.
    expect(g.columns).toHaveLength(4);
    expect(cells(g, 'build')[1]).toEqual([null, 1]);

    const excluded = allTasks().filter((t) => !(t.matrix.version === '1' && t.matrix.config === 'release'));
    const h = layoutGrid(steps, matrix, excluded);
    expect(h.columns).toEqual([
      { version: '1', config: 'debug' }, { version: '2', config: 'debug' }, { version: '2', config: 'release' },
    ]);
    expect(h.header[0]).toEqual([{ label: '1', span: 1 }, { label: '2', span: 2 }]);
    expect(cells(h, 'package')).toEqual([['package[version=1]', 1], ['package[version=2]', 2]]);
  });

  it('puts the axis more steps use outside, so narrower steps get contiguous spans', () => {
    const s: StepShape[] = [
      { name: 'src', over: ['version'], needs: [], activity: 'a' },
      { name: 'bin', over: ['distro', 'version'], needs: ['src'], activity: 'a' },
    ];
    expect(columnAxes(s, { distro: ['d1', 'd2'], version: ['1', '2'] })).toEqual(['version', 'distro']);
  });

  it('breaks ties by the widest step\'s order, then the matrix order', () => {
    const s: StepShape[] = [{ name: 'x', over: ['b', 'a'], needs: [], activity: 'a' }];
    expect(columnAxes(s, { a: ['1'], b: ['1'] })).toEqual(['b', 'a']);
  });

  it('adds values the matrix lacks (a manual run\'s --set) after its own', () => {
    const tasks = [task('build', { version: '3', config: 'debug' }), task('build', { version: '1', config: 'debug' })];
    const g = layoutGrid(steps.slice(1, 2), matrix, tasks);
    expect(g.columns).toEqual([{ version: '1', config: 'debug' }, { version: '3', config: 'debug' }]);
  });

  it('repeats a step\'s task in each run of columns it covers when its axis is not outermost', () => {
    const s: StepShape[] = [
      { name: 'bin', over: ['version', 'config'], needs: [], activity: 'a' },
      { name: 'ver', over: ['version'], needs: [], activity: 'a' },
      { name: 'cfg', over: ['config'], needs: [], activity: 'a' },
    ];
    const tasks = [
      ...['1', '2'].flatMap((version) => ['debug', 'release'].map((config) => (
        { ...task('x', { version, config }), id: `bin[${version},${config}]`, step: 'bin' }))),
      ...['1', '2'].map((version) => ({ ...task('x', { version }), id: `ver[${version}]`, step: 'ver' })),
      { ...task('x', { config: 'debug' }), id: 'cfg[debug]', step: 'cfg' },
      { ...task('x', { config: 'release' }), id: 'cfg[release]', step: 'cfg' },
    ];
    const g = layoutGrid(s, matrix, tasks);
    // Two steps use each axis: the widest step's order decides, and config comes inside.
    expect(g.axes).toEqual(['version', 'config']);
    expect(cells(g, 'cfg')).toEqual([['cfg[debug]', 1], ['cfg[release]', 1], ['cfg[debug]', 1], ['cfg[release]', 1]]);
    expect(g.rows.find((r) => r.step.name === 'cfg')!.tasks).toEqual(['cfg[debug]', 'cfg[release]']);
  });

  it('has one column when no step fans out, and marks steps with no tasks', () => {
    const s: StepShape[] = [
      { name: 'one', over: [], needs: [], activity: 'a' },
      { name: 'two', over: [], needs: ['one'], activity: 'a' },
    ];
    const g = layoutGrid(s, {}, [{ id: 'one', step: 'one', matrix: {}, status: 'queued', attempts: [] }]);
    expect(g.axes).toEqual([]);
    expect(g.columns).toEqual([{}]);
    expect(cells(g, 'one')).toEqual([['one', 1]]);
    expect(g.rows[1]!.tasks).toEqual([]);
  });
});
