import type { Command } from 'commander';
import { loadConfig } from '../config/load.ts';
import { operatorPools } from '../config/pools.ts';
import { expandTasks } from '../pipeline/expand.ts';
import { loadPipeline } from '../pipeline/load.ts';
import { pipelineJsonSchema } from '../pipeline/schema.ts';
import { pipelineFile } from './pipeline-file.ts';

export function registerValidate(program: Command): void {
  program.command('validate')
    .description('check a pipeline file and report every mistake as file:line:column: message')
    .argument('<file>', 'the pipeline file, or a directory holding a slipway.yml')
    .action((argument: string) => {
      const file = pipelineFile(argument);
      // Pool names are checked against this machine's config when it defines pools; else they
      // are left to the server the pipeline is meant for, which checks them at submit.
      const pools = operatorPools(loadConfig());
      const checked = Object.keys(pools).length > 0;
      const pipeline = loadPipeline(file, { pools: checked ? pools : 'unchecked' });
      const tasks = expandTasks(pipeline);
      const steps = Object.keys(pipeline.steps).length;
      const named = Object.values(pipeline.activities).filter((a) => a.pool !== undefined);
      const note = named.length > 0 && !checked
        ? ` (not checked here: pool ${[...new Set(named.map((a) => a.pool))].join(', ')}; this machine's config defines no pools, a server checks them at submit)`
        : '';
      process.stdout.write(`${file}: pipeline ${pipeline.name} is valid: ${steps} steps, ${tasks.length} tasks${note}\n`);
    });

  program.command('schema')
    .description('print the JSON Schema of pipeline files, for editors')
    .action(() => {
      process.stdout.write(`${JSON.stringify(pipelineJsonSchema(), null, 2)}\n`);
    });
}
