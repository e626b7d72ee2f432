import type { Activity, Pipeline, Step } from '../../src/pipeline/types.ts';

const retry = { attempts: 3, delayMs: 60_000, backoff: 5, maxDelayMs: 30 * 60_000 };

/** A pipeline built in code, for tests that exercise the engine without the file format. */
export function pipelineOf(
  steps: Partial<Step>[], options: { matrix?: Record<string, string[]>; maxWorkers?: number; sourceDir?: string } = {},
): Pipeline {
  const activity = (name: string, maxWorkers: number): Activity => ({ name, provider: 'local', maxWorkers, idleTimeoutMs: 60_000 });
  return {
    name: 'test',
    file: '/dev/null',
    sourceDir: options.sourceDir ?? '/nonexistent',
    matrix: options.matrix ?? {},
    activities: { builder: activity('builder', options.maxWorkers ?? 2), control: activity('control', 4) },
    steps: Object.fromEntries(steps.map((step) => [step.name!, {
      activity: 'builder', over: [], needs: [], exclude: [], env: {}, timeoutMs: null, retry,
      run: { kind: 'inline', text: 'true' }, ...step,
    } as Step])),
  };
}
