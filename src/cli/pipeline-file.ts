import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The pipeline file a command is given: the file itself, or, given a directory that holds
 * one, its slipway.yml (`slipway run examples/flaky`). Anything else is left as typed, for
 * loading to say what is wrong with it.
 */
export function pipelineFile(argument: string): string {
  const inside = join(argument, 'slipway.yml');
  return statSync(argument, { throwIfNoEntry: false })?.isDirectory() && existsSync(inside) ? inside : argument;
}
