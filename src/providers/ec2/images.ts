import { DescribeImagesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { Ec2Refusal } from './errors.ts';
import { withBackoff, type BackoffOptions } from './backoff.ts';
import type { Platform } from './user-data.ts';

/** Debian's own AWS account, which publishes the official Debian AMIs. */
export const debianOwner = '136693071363';

export interface ResolvedImage {
  imageId: string;
  platform: Platform;
}

/** Graviton families have a `g` after their generation digit (c7g, m6gd, im4gn); a1 is the first. */
export function architectureOf(instanceType: string): 'arm64' | 'x86_64' {
  const family = instanceType.split('.')[0] ?? '';
  return family === 'a1' || /^[a-z]+\d+[a-z]*g/.test(family) ? 'arm64' : 'x86_64';
}

/**
 * The AMI to start `instanceType` from: a configured `ami-…` as it is, or `debian-12` as
 * the newest official Debian 12 image for the type's architecture. The platform decides
 * the user data and the billing.
 */
export async function resolveImage(ec2: EC2Client, image: string, instanceType: string, backoff?: BackoffOptions): Promise<ResolvedImage> {
  if (image === 'debian-12') {
    const arch = architectureOf(instanceType);
    const found = await withBackoff(() => ec2.send(new DescribeImagesCommand({
      Owners: [debianOwner],
      Filters: [
        { Name: 'name', Values: [`debian-12-${arch === 'arm64' ? 'arm64' : 'amd64'}-*`] },
        { Name: 'architecture', Values: [arch] },
        { Name: 'state', Values: ['available'] },
      ],
    })), backoff);
    const newest = (found.Images ?? []).filter((i) => i.ImageId).toSorted((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''))[0];
    if (!newest?.ImageId) throw new Ec2Refusal(`no official Debian 12 ${arch} image in this region; set [providers.ec2].image to an AMI id`);
    return { imageId: newest.ImageId, platform: 'linux' };
  }
  const found = await withBackoff(() => ec2.send(new DescribeImagesCommand({ ImageIds: [image] })), backoff);
  const described = found.Images?.[0];
  if (!described) throw new Ec2Refusal(`image ${image} does not exist in this region, or this account cannot use it`);
  return { imageId: image, platform: described.Platform === 'Windows' ? 'windows' : 'linux' };
}
