import type { Command } from 'commander';
import { join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { loadConfig } from '../config/load.ts';
import { stateDir } from '../config/paths.ts';
import type { ManagedResource } from '../providers/ec2/purge.ts';
import { table } from './format.ts';
import { requireEc2 } from './instances.ts';
import { exitCodes, UsageError } from './usage-error.ts';

/** How purge asks before deleting: injected so tests can answer. */
export interface Confirmation {
  interactive(): boolean;
  ask(question: string): Promise<boolean>;
}

export const terminal: Confirmation = {
  interactive: () => process.stdin.isTTY === true,
  async ask(question) {
    const prompt = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return /^y(es)?$/i.test((await prompt.question(question)).trim());
    } finally {
      prompt.close();
    }
  },
};

function keysDir(): string {
  return join(stateDir(), 'keys');
}

function resourceTable(resources: readonly ManagedResource[], errors?: readonly string[]): string {
  const rows = resources.map((r, i) => [r.kind, r.id, r.name, r.note, ...(errors ? [errors[i] || 'deleted'] : [])]);
  return table(rows, ['KIND', 'ID', 'NAME', 'NOTE', ...(errors ? ['RESULT'] : [])]);
}

export function registerPurge(program: Command, confirmation: Confirmation = terminal): void {
  program.command('purge')
    .description('delete every EC2 resource in the region tagged slipway:managed=true: instances, images and their snapshots, volumes, key pairs, security groups')
    .option('--provider <name>', 'ec2 (the only provider with resources to purge)', 'ec2')
    .option('--dry-run', 'list what would be deleted and stop')
    .option('--yes', 'delete without asking (needed when stdin is not a terminal)')
    .option('--json', 'print JSON')
    .addHelpText('after', `
Exit codes: 0 everything found was deleted (or --dry-run), 1 some deletion failed,
2 a usage or AWS setup problem (no credentials, no region, no --yes without a terminal).

Examples:
  slipway purge --dry-run
  slipway purge --yes --json | jq '.results[] | select(.error != "")'`)
    .action(async (options: { provider: string; dryRun?: boolean; yes?: boolean; json?: boolean }) => {
      requireEc2(options.provider, 'purge');
      // The AWS SDK loads only for the commands that use it: it takes half a second.
      const [{ findManaged, notHandled, purge }, { ec2Session }, { forgetPrivateKey }] = await Promise.all([
        import('../providers/ec2/purge.ts'), import('../providers/ec2/session.ts'), import('../providers/ec2/keys.ts'),
      ]);
      const session = ec2Session(loadConfig().providers.ec2);
      const { region, found } = await session.call(async () => ({ region: await session.ec2.config.region(), found: await findManaged(session.ec2) }));
      const heading = `${found.length} resource(s) of Slipway's in ${region}; not handled: ${notHandled}`;
      if (options.dryRun || found.length === 0) {
        process.stdout.write(options.json
          ? `${JSON.stringify({ region, resources: found, not_handled: [notHandled] }, null, 2)}\n`
          : `${found.length > 0 ? `${resourceTable(found)}\n` : ''}${heading}\n`);
        return;
      }
      if (!options.yes) {
        if (!confirmation.interactive()) throw new UsageError(`refusing to delete ${found.length} resource(s) without --yes when stdin is not a terminal (see them with --dry-run)`);
        process.stderr.write(`${resourceTable(found)}\n${heading}\n`);
        if (!(await confirmation.ask(`Delete these ${found.length} resource(s)? [y/N] `))) {
          process.stderr.write('nothing deleted\n');
          return;
        }
      }
      const outcomes = await session.call(() => purge(session.ec2, found));
      for (const { resource, error } of outcomes) if (resource.kind === 'key-pair' && error === '') forgetPrivateKey(keysDir(), resource.name);
      const failed = outcomes.filter((o) => o.error !== '').length;
      process.stdout.write(options.json
        ? `${JSON.stringify({ region, results: outcomes.map((o) => ({ ...o.resource, error: o.error })), not_handled: [notHandled] }, null, 2)}\n`
        : `${resourceTable(outcomes.map((o) => o.resource), outcomes.map((o) => o.error))}\n${outcomes.length - failed} deleted, ${failed} failed\n`);
      if (failed > 0) process.exitCode = exitCodes.failed;
    });
}
