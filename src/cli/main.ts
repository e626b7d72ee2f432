import { Command, CommanderError } from 'commander';
import { CoordinatorRefused } from '../agent/client.ts';
import { RunRefused } from '../coordinator/coordinator.ts';
import { ConfigError } from '../config/config-error.ts';
import { PipelineError } from '../pipeline/errors.ts';
import { AwsRequestError, AwsSetupError, Ec2Refusal } from '../providers/ec2/errors.ts';
import { SshKeyRefusal } from '../providers/ssh/keys.ts';
import { StoreUnavailable } from '../store/store-errors.ts';
import { VcsError } from '../vcs/command.ts';
import { registerCancel } from './cancel.ts';
import { registerConfig } from './config.ts';
import { registerDoctor } from './doctor.ts';
import { registerGc } from './gc.ts';
import { printable } from './format.ts';
import { registerImages } from './images.ts';
import { registerInstances } from './instances.ts';
import { registerKeys } from './keys.ts';
import { registerArtifacts } from './artifacts.ts';
import { registerLogs } from './logs.ts';
import { registerPurge } from './purge.ts';
import { registerRerun } from './rerun.ts';
import { registerRun } from './run.ts';
import { registerSecrets } from './secrets.ts';
import { registerServer } from './server.ts';
import { registerShow } from './show.ts';
import { registerSimulate } from './simulate.ts';
import { registerStore } from './store.ts';
import { registerTokens } from './tokens.ts';
import { RevisionNotApplied } from './send-revision.ts';
import { registerTry } from './try.ts';
import { registerValidate } from './validate.ts';
import { registerWorker } from './worker.ts';
import { otherProvidersHint } from './provider-choice.ts';
import { exitCodes, UsageError } from './usage-error.ts';
import { watchOutput } from './output-gone.ts';

// A reader that stops early (`slipway --help | head`) is done with us (see watchOutput).
watchOutput(process.stdout);
watchOutput(process.stderr);

const program = new Command('slipway')
  .description('Build, test and release pipelines on machines that exist only while there is work.')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  .addHelpText('after', `
Start here:
  slipway run examples/hello-c/slipway.yml     run a pipeline on local workers
  slipway runs                                 past runs
  slipway show RUN                             a run's report
  slipway logs RUN TASK                        a task's log
  slipway artifacts RUN --download DIR         the files its tasks kept`);

registerRun(program);
registerTry(program);
registerValidate(program);
registerShow(program);
registerLogs(program);
registerArtifacts(program);
registerWorker(program);
registerServer(program);
registerCancel(program);
registerRerun(program);
registerTokens(program);
registerSecrets(program);
registerConfig(program);
registerKeys(program);
registerInstances(program);
registerImages(program);
registerPurge(program);
registerGc(program);
registerSimulate(program);
registerStore(program);
registerDoctor(program);

let running: Command = program;
program.hook('preAction', (_, action) => { running = action; });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
  } else if (error instanceof PipelineError || error instanceof ConfigError || error instanceof UsageError
    || error instanceof AwsSetupError || error instanceof Ec2Refusal || error instanceof RunRefused || error instanceof SshKeyRefusal) {
    const hint = error instanceof AwsSetupError ? otherProvidersHint(running) : '';
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
