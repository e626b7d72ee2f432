import type { Command } from 'commander';
import { CoordinatorRefused } from '../agent/client.ts';
import { RunRefused } from '../coordinator/coordinator.ts';
import { ConfigError } from '../config/config-error.ts';
import { PipelineError } from '../pipeline/errors.ts';
import { AwsRequestError, AwsSetupError, Ec2Refusal } from '../providers/ec2/errors.ts';
import { SshKeyRefusal } from '../providers/ssh/keys.ts';
import { StoreUnavailable } from '../store/store-errors.ts';
import { VcsError } from '../vcs/command.ts';
import { printable } from './format.ts';
import { otherProvidersHint } from './provider-choice.ts';
import { RevisionNotApplied } from './send-revision.ts';
import { exitCodes, UsageError } from './usage-error.ts';

/**
 * How a command that failed says so, and its exit code: bad input and setup as the message
 * alone (exit 2), a refusal or an outage as `slipway: message` (exit 1), anything else (a
 * bug) with its stack. `command`: the one that ran, for a hint of what it may have meant.
 */
export function reportFailure(error: unknown, command: Command): void {
  if (error instanceof PipelineError || error instanceof ConfigError || error instanceof UsageError
    || error instanceof AwsSetupError || error instanceof Ec2Refusal || error instanceof RunRefused || error instanceof SshKeyRefusal) {
    const hint = error instanceof AwsSetupError ? otherProvidersHint(command) : '';
    process.stderr.write(`${printable(error.message + hint, { lines: true })}\n`);
    process.exitCode = exitCodes.usage;
  } else if (error instanceof CoordinatorRefused || error instanceof StoreUnavailable || error instanceof AwsRequestError || error instanceof RevisionNotApplied || error instanceof VcsError) {
    process.stderr.write(`slipway: ${printable(error.message, { lines: true })}\n`);
    process.exitCode = exitCodes.failed;
  } else {
    process.stderr.write(`slipway: ${printable((error as Error).stack ?? String(error), { lines: true })}\n`);
    process.exitCode = exitCodes.failed;
  }
}
