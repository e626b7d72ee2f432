import type { Command } from 'commander';
import type { SlipwayConfig } from '../config/schema.ts';
import { LocalProvider } from '../providers/local.ts';
import { SshProvider } from '../providers/ssh/ssh-provider.ts';
import { UsageError } from './usage-error.ts';

const providerNames = ['local', 'ssh', 'ec2'] as const;
export type ProviderName = (typeof providerNames)[number];

/** The `--provider` option of the commands that manage machines and keys. */
export const providerFlag = ['--provider <name>', `${providerNames.join(', ')}`, 'ec2'] as const;

/**
 * What an EC2 setup error adds for a command that manages EC2 only because no `--provider`
 * was given: its user, who may have no AWS at all, may have meant the agents here or on ssh
 * hosts. Nothing for any other command.
 */
export function otherProvidersHint(command: Command): string {
  if (command.getOptionValueSource('provider') !== 'default') return '';
  return `\n(slipway ${command.parent?.name() === 'slipway' ? '' : `${command.parent?.name()} `}${command.name()} works on EC2 unless told otherwise: --provider ssh for your ssh hosts, --provider local for this machine)`;
}

export function providerChoice(text: string): ProviderName {
  if ((providerNames as readonly string[]).includes(text)) return text as ProviderName;
  throw new UsageError(`--provider takes ${providerNames.join(', ')}, not '${text}'`);
}

/** The local provider as the config sets it up, for commands run outside any coordinator. */
export function configuredLocal(config: SlipwayConfig): LocalProvider {
  return new LocalProvider({ workRoot: config.providers.local.work_dir });
}

/** The ssh provider over the config's hosts, for commands run outside any coordinator: it places no workers. */
export function configuredSsh(config: SlipwayConfig): SshProvider {
  const { hosts, known_hosts: knownHosts } = config.providers.ssh;
  return new SshProvider({ hosts, knownHosts, liveMachines: async () => [] });
}
