import type { SlipwayConfig } from '../config/schema.ts';
import { LocalProvider } from '../providers/local.ts';
import { SshProvider } from '../providers/ssh/ssh-provider.ts';
import { UsageError } from './usage-error.ts';

const providerNames = ['local', 'ssh', 'ec2'] as const;
export type ProviderName = (typeof providerNames)[number];

/** The `--provider` option of the commands that manage machines and keys. */
export const providerFlag = ['--provider <name>', `${providerNames.join(', ')}`, 'ec2'] as const;

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
