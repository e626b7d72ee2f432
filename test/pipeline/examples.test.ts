import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { expandTasks } from '../../src/pipeline/expand.ts';
import { loadPipeline } from '../../src/pipeline/load.ts';

const examples = fileURLToPath(new URL('../../examples/', import.meta.url));
const files = readdirSync(examples, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => join(examples, entry.name, 'slipway.yml'));

describe('examples', () => {
  it.each(files)('%s loads and expands', (file) => {
    const pipeline = loadPipeline(file);
    expect(expandTasks(pipeline).length).toBeGreaterThan(0);
  });

  it('hello-c builds, tests, packages and publishes 2 versions in 2 configurations', () => {
    const pipeline = loadPipeline(join(examples, 'hello-c', 'slipway.yml'));
    const tasks = expandTasks(pipeline);
    expect(tasks).toHaveLength(16);
    expect(tasks.find((t) => t.key === 'publish[version=1.1.0,config=release]')!.needs).toEqual([
      'package[version=1.1.0,config=release]',
    ]);
    for (const step of Object.values(pipeline.steps)) {
      expect(step.doneIf, step.name).toBeDefined();
      expect(step.env).toEqual({ OUT: '/tmp/slipway-hello-c' });
    }
  });

  it('flaky retries one step and always fails another on shard c', () => {
    const pipeline = loadPipeline(join(examples, 'flaky', 'slipway.yml'));
    expect(expandTasks(pipeline)).toHaveLength(12);
    expect(pipeline.steps.process!.retry).toMatchObject({ attempts: 2, delayMs: 1000 });
  });
});
