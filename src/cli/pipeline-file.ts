import { statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The pipeline file a command is given: the file itself, or, given a directory, its
 * slipway.yml (`slipway run examples/flaky`), which loading names when it is missing.
 * Anything else is left as typed, for loading to say what is wrong with it.
 */
export function pipelineFile(argument: string): string {
  return statSync(argument, { throwIfNoEntry: false })?.isDirectory() ? join(argument, 'slipway.yml') : argument;
}
