import type { Command } from 'commander';
import { expandTasks } from '../pipeline/expand.ts';
import { loadPipeline } from '../pipeline/load.ts';
import { pipelineJsonSchema } from '../pipeline/schema.ts';

export function registerValidate(program: Command): void {
  program.command('validate')
    .description('check a pipeline file and report every mistake as file:line:column: message')
    .argument('<file>', 'the pipeline file (slipway.yml)')
    .action((file: string) => {
      const pipeline = loadPipeline(file);
      const tasks = expandTasks(pipeline);
      const steps = Object.keys(pipeline.steps).length;
      process.stdout.write(`${file}: pipeline ${pipeline.name} is valid: ${steps} steps, ${tasks.length} tasks\n`);
    });

  program.command('schema')
    .description('print the JSON Schema of pipeline files, for editors')
    .action(() => {
      process.stdout.write(`${JSON.stringify(pipelineJsonSchema(), null, 2)}\n`);
    });
}
