/**
 * Prepared images: an AMI baked from the base image by running an activity's prepare
 * script once, so that workers started from it skip the script at boot. An image is known
 * by a fingerprint of the prepare script's fingerprint and the base image, and carries it
 * in tags; a changed script or a newer base image means another image.
 */
import { createHash } from 'node:crypto';
import {
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  type EC2Client,
  type Image,
  type Tag,
} from '@aws-sdk/client-ec2';
import { isNotFound } from './aws-errors.ts';
import { defaultBackoff, withBackoff, type BackoffOptions } from './backoff.ts';
import { Ec2Refusal } from './errors.ts';
import { pages } from './pages.ts';
import { isManaged, managedFilter, managedTag, tagOf } from './tags.ts';

export const prepareFingerprintTagKey = 'slipway:prepare-fingerprint';
export const baseImageTagKey = 'slipway:base-image';
export const imageFingerprintTagKey = 'slipway:image-fingerprint';

const sha256Hex = /^[0-9a-f]{64}$/;

/** What a prepare script is fingerprinted by: sha256 of its text, as the coordinator computes it (src/coordinator/preparation.ts). */
export function checkedFingerprint(fingerprint: string): string {
  if (!sha256Hex.test(fingerprint)) throw new Ec2Refusal(`a prepare fingerprint is 64 lower-case hex digits (sha256), not ${JSON.stringify(fingerprint.slice(0, 80))}`);
  return fingerprint;
}

/** The image's own fingerprint: the same script on another base image is another image. */
export function imageFingerprint(prepareFingerprint: string, baseImage: string): string {
  return createHash('sha256').update(`${checkedFingerprint(prepareFingerprint)}\n${baseImage}`).digest('hex');
}

/** `slipway-<activity>-<12 hex>`; AMI names allow letters, digits and ( ) [ ] . / - ' @ _ (3 to 128). */
export function preparedImageName(activity: string | undefined, imageFp: string): string {
  const label = (activity ?? '').replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 80) || 'prepared';
  return `slipway-${label}-${imageFp.slice(0, 12)}`;
}

export interface ImageIdentity {
  prepareFingerprint: string;
  baseImage: string;
  activity?: string | undefined;
}

export function preparedImageTags(identity: ImageIdentity): Tag[] {
  const imageFp = imageFingerprint(identity.prepareFingerprint, identity.baseImage);
  return [
    { ...managedTag },
    { Key: prepareFingerprintTagKey, Value: identity.prepareFingerprint },
    { Key: baseImageTagKey, Value: identity.baseImage },
    { Key: imageFingerprintTagKey, Value: imageFp },
    { Key: 'Name', Value: preparedImageName(identity.activity, imageFp) },
  ];
}

export interface FoundImage {
  imageId: string;
  state: 'available' | 'pending';
}

/**
 * The account's image for this script and base image: an available one first, else one
 * still being made (pending). Failed or deregistered ones do not count.
 */
export async function findPreparedImage(ec2: EC2Client, identity: Pick<ImageIdentity, 'prepareFingerprint' | 'baseImage'>, backoff: BackoffOptions = defaultBackoff): Promise<FoundImage | undefined> {
  const imageFp = imageFingerprint(identity.prepareFingerprint, identity.baseImage);
  const found = await withBackoff(() => ec2.send(new DescribeImagesCommand({
    Owners: ['self'],
    Filters: [
      managedFilter,
      { Name: `tag:${imageFingerprintTagKey}`, Values: [imageFp] },
      { Name: 'state', Values: ['available', 'pending'] },
    ],
  })), backoff);
  // The filter is AWS's; the tags are checked again here before an image is trusted.
  const ours = (found.Images ?? []).filter((i) => i.ImageId && isManaged(i.Tags) && tagOf(i.Tags, imageFingerprintTagKey) === imageFp);
  const available = ours.filter((i) => i.State === 'available').toSorted(newestFirst)[0];
  if (available) return { imageId: available.ImageId!, state: 'available' };
  const pending = ours.find((i) => i.State === 'pending');
  return pending ? { imageId: pending.ImageId!, state: 'pending' } : undefined;
}

function newestFirst(a: Image, b: Image): number {
  return (b.CreationDate ?? '').localeCompare(a.CreationDate ?? '');
}

export interface PreparedImageInfo {
  id: string;
  name: string;
  state: string;
  created: string;
  prepareFingerprint: string;
  baseImage: string;
  imageFingerprint: string;
  snapshots: string[];
}

function infoOf(image: Image): PreparedImageInfo {
  return {
    id: image.ImageId ?? '',
    name: image.Name ?? '',
    state: image.State ?? '',
    created: image.CreationDate ?? '',
    prepareFingerprint: tagOf(image.Tags, prepareFingerprintTagKey) ?? '',
    baseImage: tagOf(image.Tags, baseImageTagKey) ?? '',
    imageFingerprint: tagOf(image.Tags, imageFingerprintTagKey) ?? '',
    snapshots: (image.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : [])),
  };
}

/** Slipway's prepared images in the region, newest first. */
export async function listPreparedImages(ec2: EC2Client, backoff: BackoffOptions = defaultBackoff): Promise<PreparedImageInfo[]> {
  return (await describePrepared(ec2, backoff)).map(infoOf);
}

async function describePrepared(ec2: EC2Client, backoff: BackoffOptions): Promise<Image[]> {
  const found = await withBackoff(() => ec2.send(new DescribeImagesCommand({
    Owners: ['self'],
    Filters: [managedFilter, { Name: 'tag-key', Values: [prepareFingerprintTagKey] }],
  })), backoff);
  return (found.Images ?? [])
    .filter((i) => i.ImageId && isManaged(i.Tags) && tagOf(i.Tags, prepareFingerprintTagKey) !== undefined)
    .toSorted(newestFirst);
}

/** When an image was last of use: its latest launch as AWS records it (within a day), else its making. */
function lastUsed(image: Image): number {
  return Math.max(Date.parse(image.CreationDate ?? '') || 0, Date.parse(image.LastLaunchedTime ?? '') || 0);
}

/**
 * Retention's part on EC2: Slipway's prepared images neither made nor launched since
 * `unusedSince` (ms since the epoch) are deregistered with their snapshots, except one
 * still being made or that an instance (not yet terminated) runs from. With `dryRun`,
 * only counted. Bytes are the snapshots' volume sizes.
 */
export async function expireUnusedImages(ec2: EC2Client, unusedSince: number, dryRun: boolean, backoff: BackoffOptions = defaultBackoff): Promise<{ count: number; bytes: number }> {
  const stale = (await describePrepared(ec2, backoff)).filter((i) => i.State !== 'pending' && lastUsed(i) < unusedSince);
  if (stale.length === 0) return { count: 0, bytes: 0 };
  const filters = [
    { Name: 'image-id', Values: stale.map((i) => i.ImageId!) },
    { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'] },
  ];
  const inUse = new Set<string | undefined>();
  for await (const page of pages((NextToken) => ec2.send(new DescribeInstancesCommand({ Filters: filters, NextToken })), backoff)) {
    for (const reservation of page.Reservations ?? []) for (const instance of reservation.Instances ?? []) inUse.add(instance.ImageId);
  }
  const expired = stale.filter((i) => !inUse.has(i.ImageId));
  if (!dryRun && expired.length > 0) await deletePreparedImages(ec2, expired.map((i) => i.ImageId!), backoff);
  const bytes = expired.flatMap((i) => i.BlockDeviceMappings ?? []).reduce((sum, m) => sum + (m.Ebs?.VolumeSize ?? 0) * 1024 ** 3, 0);
  return { count: expired.length, bytes };
}

export interface DeletedImage {
  id: string;
  snapshots: string[];
}

/**
 * Deregisters Slipway's images among `ids` and deletes their snapshots; refuses the whole
 * request, deleting nothing, if one is not Slipway's or does not exist.
 */
export async function deletePreparedImages(ec2: EC2Client, ids: readonly string[], backoff: BackoffOptions = defaultBackoff): Promise<DeletedImage[]> {
  for (const id of ids) if (!/^ami-[0-9a-f]{8,17}$/.test(id)) throw new Ec2Refusal(`not an image id: ${JSON.stringify(id.slice(0, 40))}`);
  const found = await withBackoff(() => ec2.send(new DescribeImagesCommand({ ImageIds: [...ids] })), backoff);
  const images = new Map((found.Images ?? []).map((i) => [i.ImageId, i]));
  for (const id of ids) {
    const image = images.get(id);
    if (!image) throw new Ec2Refusal(`no image ${id} in this region`);
    if (!isManaged(image.Tags)) throw new Ec2Refusal(`image ${id} is not Slipway's (it has no ${managedTag.Key}=${managedTag.Value} tag); nothing was deleted`);
  }
  const deleted: DeletedImage[] = [];
  for (const id of ids) {
    const { snapshots } = infoOf(images.get(id)!);
    await withBackoff(() => ec2.send(new DeregisterImageCommand({ ImageId: id })), backoff);
    // A snapshot can go only once no image uses it, so after the deregistration.
    for (const snapshot of snapshots) {
      try {
        await withBackoff(() => ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshot })), backoff);
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
    deleted.push({ id, snapshots });
  }
  return deleted;
}
