import {
  DeleteKeyPairCommand,
  DeleteSecurityGroupCommand,
  DeleteSnapshotCommand,
  DeleteVolumeCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  TerminateInstancesCommand,
  type EC2Client,
  type Tag,
} from '@aws-sdk/client-ec2';
import { errorCode, isNotFound } from './aws-errors.ts';
import { defaultBackoff, withBackoff, type BackoffOptions } from './backoff.ts';
import { liveStates } from './ec2-provider.ts';
import { pages } from './pages.ts';
import { isManaged, managedFilter, tagOf } from './tags.ts';

/** In the order they are deleted: what uses a resource goes before it. */
const resourceKinds = ['instance', 'image', 'snapshot', 'volume', 'key-pair', 'security-group'] as const;
export type ResourceKind = (typeof resourceKinds)[number];

export interface ManagedResource {
  kind: ResourceKind;
  id: string;
  name: string;
  /** Why it is here when not by its own tag (a tagged image's snapshot). */
  note: string;
}

/** What purge cannot see or delete with the clients it has. */
export const notHandled = 'IAM instance profiles and roles (the IAM client is not installed; Slipway does not create them)';

/** `name` is the resource's own name where it has one (key pairs, security groups), else its Name tag. */
function resource(kind: ResourceKind, id: string | undefined, tags: Tag[] | undefined, name?: string): ManagedResource[] {
  return id ? [{ kind, id, name: name ?? tagOf(tags, 'Name') ?? '', note: '' }] : [];
}

/**
 * Every resource in the region that carries slipway:managed=true. The filter asks AWS for
 * them, and each answer's tags are checked again here: purge deletes, so it trusts nothing
 * it has not seen the tag on itself.
 */
export async function findManaged(ec2: EC2Client, backoff: BackoffOptions = defaultBackoff): Promise<ManagedResource[]> {
  const found: ManagedResource[] = [];
  const instanceFilters = [managedFilter, { Name: 'instance-state-name', Values: liveStates }];
  for await (const page of pages((NextToken) => ec2.send(new DescribeInstancesCommand({ Filters: instanceFilters, NextToken })), backoff)) {
    for (const i of (page.Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
      if (isManaged(i.Tags) && liveStates.includes(i.State?.Name ?? '')) found.push(...resource('instance', i.InstanceId, i.Tags));
    }
  }
  const snapshotsOfImages = new Map<string, string>();
  const images = await withBackoff(() => ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [managedFilter] })), backoff);
  for (const image of images.Images ?? []) {
    if (!isManaged(image.Tags) || !image.ImageId) continue;
    found.push(...resource('image', image.ImageId, image.Tags));
    for (const mapping of image.BlockDeviceMappings ?? []) {
      if (mapping.Ebs?.SnapshotId) snapshotsOfImages.set(mapping.Ebs.SnapshotId, image.ImageId);
    }
  }
  const seenSnapshots = new Set<string>();
  for await (const page of pages((NextToken) => ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: [managedFilter], NextToken })), backoff)) {
    for (const snapshot of page.Snapshots ?? []) {
      if (!isManaged(snapshot.Tags) || !snapshot.SnapshotId) continue;
      seenSnapshots.add(snapshot.SnapshotId);
      found.push(...resource('snapshot', snapshot.SnapshotId, snapshot.Tags));
    }
  }
  for (const [snapshotId, imageId] of snapshotsOfImages) {
    if (!seenSnapshots.has(snapshotId)) found.push({ kind: 'snapshot', id: snapshotId, name: '', note: `of ${imageId}` });
  }
  // Volumes in use go with their instance; only detached ones are left to delete.
  const volumeFilters = [managedFilter, { Name: 'status', Values: ['available'] }];
  for await (const page of pages((NextToken) => ec2.send(new DescribeVolumesCommand({ Filters: volumeFilters, NextToken })), backoff)) {
    for (const volume of page.Volumes ?? []) {
      if (isManaged(volume.Tags) && volume.State === 'available') found.push(...resource('volume', volume.VolumeId, volume.Tags));
    }
  }
  const keys = await withBackoff(() => ec2.send(new DescribeKeyPairsCommand({ Filters: [managedFilter] })), backoff);
  for (const key of keys.KeyPairs ?? []) {
    if (isManaged(key.Tags)) found.push(...resource('key-pair', key.KeyPairId, key.Tags, key.KeyName ?? ''));
  }
  for await (const page of pages((NextToken) => ec2.send(new DescribeSecurityGroupsCommand({ Filters: [managedFilter], NextToken })), backoff)) {
    for (const group of page.SecurityGroups ?? []) {
      if (isManaged(group.Tags)) found.push(...resource('security-group', group.GroupId, group.Tags, group.GroupName ?? ''));
    }
  }
  return found.toSorted((a, b) => resourceKinds.indexOf(a.kind) - resourceKinds.indexOf(b.kind));
}

export interface PurgeOutcome {
  resource: ManagedResource;
  /** Empty when deleted (or already gone). */
  error: string;
}

export interface PurgeOptions {
  backoff?: BackoffOptions;
  /** How long to wait for instances to terminate before deleting what they used. */
  terminateWaitMs?: number;
  pollMs?: number;
}

/**
 * Deletes `resources` in dependency order: instances first (waiting until they are gone,
 * since their volumes and security groups cannot go before), then images and their
 * snapshots, volumes, key pairs, security groups. One failure does not stop the rest.
 */
export async function purge(ec2: EC2Client, resources: readonly ManagedResource[], options: PurgeOptions = {}): Promise<PurgeOutcome[]> {
  const backoff = options.backoff ?? defaultBackoff;
  const outcomes: PurgeOutcome[] = [];
  const instances = resources.filter((r) => r.kind === 'instance');
  if (instances.length > 0) {
    const ids = instances.map((r) => r.id);
    let error = '';
    try {
      await withBackoff(() => ec2.send(new TerminateInstancesCommand({ InstanceIds: ids })), backoff);
      await waitTerminated(ec2, ids, options, backoff);
    } catch (caught) {
      error = describe(caught);
    }
    outcomes.push(...instances.map((resource) => ({ resource, error })));
  }
  for (const resource of resources) {
    if (resource.kind === 'instance') continue;
    try {
      await withBackoff(() => deleteOne(ec2, resource), backoff);
      outcomes.push({ resource, error: '' });
    } catch (caught) {
      outcomes.push({ resource, error: isNotFound(caught) ? '' : describe(caught) });
    }
  }
  return outcomes;
}

function deleteOne(ec2: EC2Client, resource: ManagedResource): Promise<unknown> {
  switch (resource.kind) {
    case 'image': return ec2.send(new DeregisterImageCommand({ ImageId: resource.id }));
    case 'snapshot': return ec2.send(new DeleteSnapshotCommand({ SnapshotId: resource.id }));
    case 'volume': return ec2.send(new DeleteVolumeCommand({ VolumeId: resource.id }));
    case 'key-pair': return ec2.send(new DeleteKeyPairCommand({ KeyPairId: resource.id }));
    case 'security-group': return ec2.send(new DeleteSecurityGroupCommand({ GroupId: resource.id }));
    case 'instance': throw new Error('instances are terminated together, not one by one');
  }
}

async function waitTerminated(ec2: EC2Client, ids: string[], options: PurgeOptions, backoff: BackoffOptions): Promise<void> {
  const pollMs = options.pollMs ?? 5000;
  for (let waited = 0; ; waited += pollMs) {
    const found = await withBackoff(() => ec2.send(new DescribeInstancesCommand({ InstanceIds: ids })), backoff);
    const left = (found.Reservations ?? []).flatMap((r) => r.Instances ?? []).filter((i) => i.State?.Name !== 'terminated');
    if (left.length === 0) return;
    if (waited >= (options.terminateWaitMs ?? 5 * 60_000)) throw new Error(`still ${left.map((i) => `${i.InstanceId} ${i.State?.Name}`).join(', ')} after ${Math.round(waited / 1000)}s`);
    await backoff.sleep(pollMs);
  }
}

function describe(error: unknown): string {
  return `${errorCode(error)}: ${(error as Error).message}`;
}
