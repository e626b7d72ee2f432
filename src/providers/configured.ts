import type { SlipwayConfig } from '../config/schema.ts';
import { activitiesInUse } from '../pipeline/activities-in-use.ts';
import type { Pipeline } from '../pipeline/types.ts';
import { providerLifecycle, type ProviderLifecycle } from './provider.ts';

/** What to set in the config for each provider besides local, for the message that asks for it. */
const setUp: Record<string, string> = {
  ssh: 'list the hosts as [[providers.ssh.hosts]] in the config',
  ec2: 'set [providers.ec2] region in the config (or AWS_REGION)',
};

/**
 * The cloud providers the config sets up: EC2 once a region is known (ssh hosts are set up
 * by the coordinator, which knows its store). The AWS SDK is loaded only when needed,
 * since it costs every other command most of a second.
 */
export async function configuredProviders(config: SlipwayConfig, env: NodeJS.ProcessEnv = process.env): Promise<ProviderLifecycle[]> {
  const providers: ProviderLifecycle[] = [];
  const ec2 = config.providers.ec2;
  const region = ec2RegionOf(config, env);
  if (region) {
    const [{ Ec2Provider }, { awsClients }] = await Promise.all([import('./ec2/ec2-provider.ts'), import('./ec2/clients.ts')]);
    providers.push(providerLifecycle(new Ec2Provider({ settings: ec2, ec2: awsClients({ region, profile: ec2.profile }).ec2 })));
  }
  return providers;
}

function ec2RegionOf(config: SlipwayConfig, env: NodeJS.ProcessEnv): string | undefined {
  return config.providers.ec2.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
}

/**
 * Retention's expiry of EC2 prepared images (see expireUnusedImages), when the config sets
 * EC2 up; undefined otherwise, so a machine without AWS never loads the SDK for it.
 */
export async function configuredImageExpiry(config: SlipwayConfig, env: NodeJS.ProcessEnv = process.env) {
  const region = ec2RegionOf(config, env);
  if (!region) return undefined;
  const [{ expireUnusedImages }, { awsClients }] = await Promise.all([import('./ec2/prepared-images.ts'), import('./ec2/clients.ts')]);
  const { ec2 } = awsClients({ region, profile: config.providers.ec2.profile });
  return (unusedSince: number, dryRun: boolean) => expireUnusedImages(ec2, unusedSince, dryRun);
}

/** Why a pipeline cannot get its machines from these providers, or undefined when it can (an activity no step uses needs none). */
export function missingProvider(pipeline: Pipeline, available: readonly string[]): string | undefined {
  const used = activitiesInUse(pipeline);
  for (const activity of Object.values(pipeline.activities)) {
    if (!used.has(activity.name) || available.includes(activity.provider)) continue;
    const how = setUp[activity.provider] ?? `use one of: ${available.join(', ')}`;
    return `activity ${activity.name} uses provider ${activity.provider}, which is not set up here: ${how} (slipway config prints a commented default)`;
  }
  return undefined;
}
