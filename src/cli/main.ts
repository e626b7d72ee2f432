import { Command, CommanderError } from 'commander';
import { exitCodes } from './usage-error.ts';
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

type Register = (program: Command) => void;

/**
 * Each command's module, by the names it registers, in the order `--help` lists them. A
 * command loads its own module only: the others' (the coordinator, the API, the SSH and AWS
 * clients) would double the time `slipway runs` takes to start.
 */
const commandModules: [names: string[], load: () => Promise<Register>][] = [
  [['run'], async () => (await import('./run.ts')).registerRun],
  [['try'], async () => (await import('./try.ts')).registerTry],
  [['validate', 'schema'], async () => (await import('./validate.ts')).registerValidate],
  [['runs', 'show'], async () => (await import('./show.ts')).registerShow],
  [['logs'], async () => (await import('./logs.ts')).registerLogs],
  [['artifacts'], async () => (await import('./artifacts.ts')).registerArtifacts],
  [['worker'], async () => (await import('./worker.ts')).registerWorker],
  [['server'], async () => (await import('./server.ts')).registerServer],
  [['cancel'], async () => (await import('./cancel.ts')).registerCancel],
  [['rerun'], async () => (await import('./rerun.ts')).registerRerun],
  [['tokens'], async () => (await import('./tokens.ts')).registerTokens],
  [['secrets'], async () => (await import('./secrets.ts')).registerSecrets],
  [['config'], async () => (await import('./config.ts')).registerConfig],
  [['keys'], async () => (await import('./keys.ts')).registerKeys],
  [['instances'], async () => (await import('./instances.ts')).registerInstances],
  [['images'], async () => (await import('./images.ts')).registerImages],
  [['purge'], async () => (await import('./purge.ts')).registerPurge],
  [['gc'], async () => (await import('./gc.ts')).registerGc],
  [['simulate'], async () => (await import('./simulate.ts')).registerSimulate],
  [['store'], async () => (await import('./store.ts')).registerStore],
  [['doctor'], async () => (await import('./doctor.ts')).registerDoctor],
];

// The command is the first argument: the program itself takes only --help and --version.
// Anything else (help, a mistyped name) needs every command, to list or suggest them.
const first = process.argv[2] ?? '';
const named = commandModules.filter(([names]) => names.includes(first));
const needed = first === '--version' || first === '-V' ? [] : named.length > 0 ? named : commandModules;
for (const register of await Promise.all(needed.map(([, load]) => load()))) register(program);

let running: Command = program;
program.hook('preAction', (_, action) => { running = action; });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
  } else {
    // What each kind of error means is known only once one happened: its classes live with the commands.
    const { reportFailure } = await import('./failure-report.ts');
    reportFailure(error, running);
  }
}
