import { DescribeInstancesCommand, TerminateInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { defaultBackoff, withBackoff, type BackoffOptions } from './backoff.ts';
import { liveStates } from './ec2-provider.ts';
import { Ec2Refusal } from './errors.ts';
import { resolveImage } from './images.ts';
import { launch, type Launched } from './launch.ts';
import { pages } from './pages.ts';
import type { Ec2Settings } from './settings.ts';
import { activityTagKey, isManaged, managedFilter, managedTag, nameTag, runTagKey, tagOf, workerTagKey } from './tags.ts';

export interface InstanceInfo {
  id: string;
  name: string;
  type: string;
  state: string;
  market: string;
  worker: string;
  activity: string;
  run: string;
  launched: string;
  publicIp: string;
  privateIp: string;
}

export interface BareInstance {
  name: string;
  instanceType?: string | undefined;
  keyName?: string | undefined;
}

/**
 * An instance with no agent, to log in to or to prepare an image on. It carries Slipway's
 * tag, so `slipway purge` finds it, but no worker tag, so the health check leaves it alone.
 */
export async function createBareInstance(ec2: EC2Client, settings: Ec2Settings, bare: BareInstance, backoff: BackoffOptions = defaultBackoff): Promise<Launched> {
  return launch(ec2, {
    imageFor: async (type) => (await resolveImage(ec2, settings.image, type, backoff)).imageId,
    instanceTypes: bare.instanceType ? [bare.instanceType] : settings.instance_types,
    subnets: settings.subnets,
    securityGroups: settings.security_groups,
    spot: settings.spot,
    keyName: bare.keyName ?? settings.key_name,
    tags: [{ ...managedTag }, nameTag(bare.name)],
  }, backoff);
}

/** Slipway's instances that exist (not terminated). */
export async function listInstances(ec2: EC2Client, backoff: BackoffOptions = defaultBackoff): Promise<InstanceInfo[]> {
  const found: InstanceInfo[] = [];
  const filters = [managedFilter, { Name: 'instance-state-name', Values: [...liveStates, 'shutting-down'] }];
  for await (const page of pages((NextToken) => ec2.send(new DescribeInstancesCommand({ Filters: filters, NextToken })), backoff)) {
    for (const i of (page.Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
      if (!i.InstanceId || !isManaged(i.Tags)) continue;
      found.push({
        id: i.InstanceId,
        name: tagOf(i.Tags, 'Name') ?? '',
        type: i.InstanceType ?? '',
        state: i.State?.Name ?? '',
        market: i.InstanceLifecycle === 'spot' ? 'spot' : 'on-demand',
        worker: tagOf(i.Tags, workerTagKey) ?? '',
        activity: tagOf(i.Tags, activityTagKey) ?? '',
        run: tagOf(i.Tags, runTagKey) ?? '',
        launched: i.LaunchTime?.toISOString() ?? '',
        publicIp: i.PublicIpAddress ?? '',
        privateIp: i.PrivateIpAddress ?? '',
      });
    }
  }
  return found;
}

/** Terminates Slipway's instances among `ids`; refuses the whole request if any is not Slipway's. */
export async function terminateManaged(ec2: EC2Client, ids: readonly string[], backoff: BackoffOptions = defaultBackoff): Promise<void> {
  for (const id of ids) if (!/^i-[0-9a-f]{8,17}$/.test(id)) throw new Ec2Refusal(`not an instance id: ${JSON.stringify(id)}`);
  const found = await withBackoff(() => ec2.send(new DescribeInstancesCommand({ InstanceIds: [...ids] })), backoff);
  const instances = new Map((found.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => [i.InstanceId, i]));
  for (const id of ids) {
    const instance = instances.get(id);
    if (!instance) throw new Ec2Refusal(`no instance ${id} in this region`);
    if (!isManaged(instance.Tags)) throw new Ec2Refusal(`instance ${id} is not Slipway's (it has no ${managedTag.Key}=${managedTag.Value} tag); nothing was terminated`);
  }
  await withBackoff(() => ec2.send(new TerminateInstancesCommand({ InstanceIds: [...ids] })), backoff);
}
