import type { RunDetail, StepShape, Task, TaskStatus } from '../../src/web/lib/types.ts';

/** The pipeline of the UI's screenshots: 2 versions × 2 configs, four steps over 0, 2, 2 and 1 axes. */
export const steps: StepShape[] = [
  { name: 'fetch', over: [], needs: [], activity: 'control' },
  { name: 'build', over: ['version', 'config'], needs: ['fetch'], activity: 'builder' },
  { name: 'test', over: ['version', 'config'], needs: ['build'], activity: 'builder' },
  { name: 'package', over: ['version'], needs: ['test'], activity: 'packager' },
];
export const matrix = { version: ['1', '2'], config: ['debug', 'release'] };

export function task(step: string, m: Record<string, string>, status: TaskStatus = 'waiting'): Task {
  const over = steps.find((s) => s.name === step)?.over ?? Object.keys(m);
  const id = over.length === 0 ? step : `${step}[${over.map((a) => `${a}=${m[a]}`).join(',')}]`;
  return { id, step, matrix: m, status, attempts: [] };
}

export function allTasks(): Task[] {
  const out: Task[] = [task('fetch', {})];
  for (const step of ['build', 'test']) {
    for (const version of matrix.version) for (const config of matrix.config) out.push(task(step, { version, config }));
  }
  for (const version of matrix.version) out.push(task('package', { version }));
  return out;
}

export function detail(tasks: Task[] = allTasks()): RunDetail {
  return {
    run: { id: 'r-1', pipeline: 'p', status: 'running', source: { digest: null, vcs: null, repository: null, revision: null, branch: null, base: null, author: null, message: null, try: false }, started_at: '2026-11-22T01:00:00.000Z', finished_at: null, counts: {} },
    tasks, failures: [], steps, matrix,
  };
}
