import type { Command } from 'commander';
import { join } from 'node:path';
import { loadConfig } from '../config/load.ts';
import { stateDir } from '../config/paths.ts';
import type { SlipwayConfig } from '../config/schema.ts';
import type { Leftover, Purger } from '../providers/leftovers.ts';
import { localPurger } from '../providers/local-purge.ts';
import { localWorkRoots } from './server-runner.ts';
import { sshPurger } from '../providers/ssh/purge.ts';
import { confirmed, terminal, type Confirmation } from './confirmation.ts';
import { table } from './format.ts';
import { configuredSsh, providerChoice, providerFlag, type ProviderName } from './provider-choice.ts';
import { exitCodes } from './usage-error.ts';

function resourceTable(resources: readonly Leftover[], errors?: readonly string[]): string {
  const rows = resources.map((r, i) => [r.kind, r.id, r.name, r.note, ...(errors ? [errors[i] || 'deleted'] : [])]);
  return table(rows, ['KIND', 'ID', 'NAME', 'NOTE', ...(errors ? ['RESULT'] : [])]);
}

/** EC2's purge, with the AWS SDK loaded only now: it takes half a second. */
async function ec2Purger(config: SlipwayConfig): Promise<Purger> {
  const [{ findManaged, notHandled, purge }, { ec2Session }, { forgetPrivateKey }] = await Promise.all([
    import('../providers/ec2/purge.ts'), import('../providers/ec2/session.ts'), import('../providers/ec2/keys.ts'),
  ]);
  const session = ec2Session(config.providers.ec2);
  const region = await session.call(() => session.ec2.config.region());
  return {
    scope: region,
    find: async () => ({ found: await session.call(() => findManaged(session.ec2)), notHandled: [notHandled] }),
    async remove(found) {
      const outcomes = await session.call(() => purge(session.ec2, found as Parameters<typeof purge>[1]));
      for (const { resource, error } of outcomes) if (resource.kind === 'key-pair' && error === '') forgetPrivateKey(join(stateDir(), 'keys'), resource.name);
      return outcomes;
    },
  };
}

async function purgerFor(provider: ProviderName, config: SlipwayConfig): Promise<Purger> {
  if (provider === 'local') return localPurger(localWorkRoots(config));
  if (provider === 'ssh') return sshPurger(configuredSsh(config), config.providers.ssh.hosts.map((h) => h.name));
  return ec2Purger(config);
}

export function registerPurge(program: Command, confirmation: Confirmation = terminal): void {
  program.command('purge')
    .description("remove everything of Slipway's a provider holds: EC2 instances, images, snapshots, volumes, key pairs and security groups tagged slipway:managed=true; agents, work directories, runtimes and prepare marks on ssh hosts or this machine")
    .option(...providerFlag)
    .option('--dry-run', 'list what would be removed and stop')
    .option('--yes', 'remove without asking (needed when stdin is not a terminal)')
    .option('--json', 'print JSON')
    .addHelpText('after', `
Running agents are stopped with their tasks: a run they served retries those tasks on new
workers. Runs, logs and the store are history and stay.

Exit codes: 0 everything found was removed (or --dry-run), 1 some removal failed,
2 a usage or setup problem (no credentials, no region, no --yes without a terminal).

Examples:
  slipway purge --dry-run
  slipway purge --provider ssh --yes
  slipway purge --yes --json | jq '.results[] | select(.error != "")'`)
    .action(async (options: { provider: string; dryRun?: boolean; yes?: boolean; json?: boolean }) => {
      const provider = providerChoice(options.provider);
      const purger = await purgerFor(provider, loadConfig());
      try {
        const { found, notHandled } = await purger.find();
        const heading = `${found.length} resource(s) of Slipway's in ${purger.scope}${notHandled.length > 0 ? `; not handled: ${notHandled.join('; ')}` : ''}`;
        const where = { provider, scope: purger.scope, not_handled: notHandled };
        if (options.dryRun || found.length === 0) {
          process.stdout.write(options.json ? `${JSON.stringify({ ...where, resources: found }, null, 2)}\n` : `${found.length > 0 ? `${resourceTable(found)}\n` : ''}${heading}\n`);
          return;
        }
        if (!options.yes && confirmation.interactive()) process.stderr.write(`${resourceTable(found)}\n${heading}\n`);
        const what = `${found.length} resource(s)`;
        if (!(await confirmed(confirmation, { yes: options.yes, what, question: `Delete these ${what}? [y/N] ` }))) return;
        const outcomes = await purger.remove(found);
        const failed = outcomes.filter((o) => o.error !== '').length;
        process.stdout.write(options.json
          ? `${JSON.stringify({ ...where, results: outcomes.map((o) => ({ ...o.resource, error: o.error })) }, null, 2)}\n`
          : `${resourceTable(outcomes.map((o) => o.resource), outcomes.map((o) => o.error))}\n${outcomes.length - failed} deleted, ${failed} failed\n`);
        if (failed > 0) process.exitCode = exitCodes.failed;
      } finally {
        purger.close?.();
      }
    });
}
