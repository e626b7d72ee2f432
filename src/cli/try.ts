import { relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { describeUncommitted, uncommittedFiles } from '../vcs/dirty.ts';
import { repositoryIdentity } from '../vcs/identity.ts';
import { resolveRevision, UnknownRevision } from '../vcs/revision.ts';
import { findWorkingCopy } from '../vcs/working-copy.ts';
import { serverOf } from './api-client.ts';
import { printable } from './format.ts';
import { collect, parseSelection } from './run.ts';
import { watchRemoteRun } from './run-remote.ts';
import { byteSize } from '../util/byte-size.ts';
import { sendTry } from './send-revision.ts';
import { UsageError } from './usage-error.ts';

interface TryOptions {
  revision?: string;
  server?: string;
  token?: string;
  only?: string;
  set: string[];
  exclude: string[];
  force?: boolean;
  wait?: boolean;
  json?: boolean;
}

export function registerTry(program: Command): void {
  program.command('try')
    .description("run a committed revision of this git or Mercurial working copy on a server, without pushing it anywhere")
    .argument('[file]', 'the pipeline file in the revision', 'slipway.yml')
    .option('-r, --revision <rev>', "the revision to try (default: the working copy's parent)")
    .option('--server <url>', 'the server (default: $SLIPWAY_SERVER)')
    .option('--token <token>', 'a server token with the submit scope (default: $SLIPWAY_TOKEN)')
    .option('--only <steps>', 'manual mode: run only these steps (comma-separated)')
    .option('--set <axis=values>', 'manual mode: only these values of an axis (repeatable)', collect, [])
    .option('--exclude <axis=values>', 'manual mode: leave out the tasks with these values of an axis, after --set (repeatable)', collect, [])
    .option('--force', 'run tasks even if their done_if check says they are done')
    .option('--wait', 'follow the run to its end, as `run --server` does')
    .option('--json', 'print JSON on stdout: the run report with --wait, else the run, its URL, the try id and the bundle sent')
    .addHelpText('after', `
Only committed changes are sent, never the working tree's: a bundle of the changesets the
server does not have yet, so a second try of a small change sends a few KB. The server
keeps a try's revision out of shared history (git refs/slipway/try/<id>, hg secret phase)
and drops it after [server] try_expiry.

Exit codes: 0 sent (with --wait: every task succeeded or was skipped), 1 some task failed
or the server could not apply the bundle, 2 invalid input, 130 cancelled.

Examples:
  slipway try                                  the working copy's parent
  slipway try -r HEAD~2 --only test --wait     an older revision, one step, followed`)
    .action(async (file: string, options: TryOptions) => {
      process.exitCode = await tryRevision(file, options);
    });
}

async function tryRevision(file: string, options: TryOptions): Promise<number> {
  const selection = parseSelection(options);
  const api = serverOf(options);
  if (!api) throw new UsageError('slipway try sends to a server: --server URL or SLIPWAY_SERVER');
  const repo = await findWorkingCopy(process.cwd());
  if (!repo) throw new UsageError(`${process.cwd()} is in no git or Mercurial working copy: slipway try sends a committed revision of one`);
  const pipelineFile = relative(repo.root, resolve(file));
  if (pipelineFile.startsWith('..')) throw new UsageError(`${file} is outside the working copy ${repo.root}`);
  let revision;
  try {
    revision = await resolveRevision(repo, options.revision ?? (repo.vcs === 'git' ? 'HEAD' : '.'));
  } catch (error) {
    if (error instanceof UnknownRevision) throw new UsageError(error.message);
    throw error;
  }
  const say = (line: string): void => { process.stderr.write(`${printable(line)}\n`); };
  const dirty = await uncommittedFiles(repo);
  if (dirty.length > 0) say(`uncommitted changes are not sent, only ${short(revision.id)} as committed: ${describeUncommitted(dirty)}`);

  const repository = await repositoryIdentity(repo, revision.id);
  const sent = await sendTry(api, repo, repository, revision);
  say(sent.changesets === 0
    ? `${api.origin} has ${short(revision.id)} already: nothing to send (try ${sent.try})`
    : `sent ${sent.changesets} changeset${sent.changesets === 1 ? '' : 's'} in a ${byteSize(sent.bytes)} bundle (try ${sent.try})`);

  const { run } = await api.json<{ run: { id: string; pipeline: string } }>('POST', '/api/v1/runs', {
    source: sent.source, file: pipelineFile, label: pipelineFile, selection,
    origin: {
      vcs: repo.vcs, repository: repo.root, revision: revision.id, branch: revision.branch, base: sent.base,
      author: revision.author, message: revision.message, try: true,
    },
  });
  const url = `${api.origin}/runs/${run.id}`;
  if (options.json && !options.wait) {
    process.stdout.write(`${JSON.stringify({ run: run.id, url, try: sent.try, revision: revision.id, changesets: sent.changesets, bundle_bytes: sent.bytes })}\n`);
    return 0;
  }
  // --json keeps stdout for the report.
  (options.json ? process.stderr : process.stdout).write(`${url}\n`);
  if (!options.wait) return 0;
  return watchRemoteRun(api, run.id, run.pipeline, Boolean(options.json), 0);
}

function short(id: string): string {
  return id.slice(0, 12);
}
