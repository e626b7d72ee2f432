import { DeleteSnapshotCommand, DeregisterImageCommand, DescribeImagesCommand, DescribeInstancesCommand, type Image } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { expireUnusedImages } from '../../../src/providers/ec2/prepared-images.ts';
import { recordingBackoff, testClient } from './aws-fixtures.ts';

const client = testClient();
const ec2 = mockClient(client);
afterEach(() => ec2.reset());

const managed = { Key: 'slipway:managed', Value: 'true' };
const fingerprint = { Key: 'slipway:prepare-fingerprint', Value: 'a'.repeat(64) };
const cutoff = Date.parse('2026-10-01T00:00:00Z');

function image(id: string, fields: Partial<Image>): Image {
  return {
    ImageId: id, State: 'available', Tags: [managed, fingerprint],
    BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: `snap-${id.slice(4)}`, VolumeSize: 8 } }],
    ...fields,
  };
}

const images = [
  // Made long ago, never launched since: expired.
  image('ami-00000000000000001', { CreationDate: '2026-06-01T00:00:00.000Z' }),
  // Made long ago, launched last week: in use.
  image('ami-00000000000000002', { CreationDate: '2026-06-01T00:00:00.000Z', LastLaunchedTime: '2026-10-20T00:00:00Z' }),
  // Made recently.
  image('ami-00000000000000003', { CreationDate: '2026-10-15T00:00:00.000Z' }),
  // Old, but an instance still runs from it.
  image('ami-00000000000000004', { CreationDate: '2026-05-01T00:00:00.000Z', LastLaunchedTime: '2026-05-02T00:00:00Z' }),
  // Still being made.
  image('ami-00000000000000005', { CreationDate: '2026-05-01T00:00:00.000Z', State: 'pending' }),
  // Not Slipway's, whatever AWS's filter let through.
  { ...image('ami-00000000000000006', { CreationDate: '2026-05-01T00:00:00.000Z' }), Tags: [fingerprint] },
];

function answer(): void {
  ec2.on(DescribeImagesCommand).callsFake((input: { ImageIds?: string[] }) => ({
    Images: input.ImageIds ? images.filter((i) => input.ImageIds!.includes(i.ImageId!)) : images,
  }));
  ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-0000000000000000a', ImageId: 'ami-00000000000000004' }] }] });
  ec2.on(DeregisterImageCommand).resolves({});
  ec2.on(DeleteSnapshotCommand).resolves({});
}

describe('expireUnusedImages', () => {
  it("deregisters Slipway's images neither made nor launched since the cutoff, with their snapshots, unless an instance runs from one", async () => {
    answer();
    expect(await expireUnusedImages(client, cutoff, false, recordingBackoff())).toEqual({ count: 1, bytes: 8 * 1024 ** 3 });
    expect(ec2.commandCalls(DescribeImagesCommand)[0]!.args[0].input).toEqual({
      Owners: ['self'],
      Filters: [{ Name: 'tag:slipway:managed', Values: ['true'] }, { Name: 'tag-key', Values: ['slipway:prepare-fingerprint'] }],
    });
    // Only the old ones are asked about, among instances that are not terminated.
    expect(ec2.commandCalls(DescribeInstancesCommand)[0]!.args[0].input).toEqual({
      Filters: [
        { Name: 'image-id', Values: ['ami-00000000000000001', 'ami-00000000000000004'] },
        { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'] },
      ],
      NextToken: undefined,
    });
    expect(ec2.commandCalls(DeregisterImageCommand).map((c) => c.args[0].input)).toEqual([{ ImageId: 'ami-00000000000000001' }]);
    expect(ec2.commandCalls(DeleteSnapshotCommand).map((c) => c.args[0].input)).toEqual([{ SnapshotId: 'snap-00000000000000001' }]);
  });

  it('with a dry run, counts them and deletes nothing', async () => {
    answer();
    expect(await expireUnusedImages(client, cutoff, true, recordingBackoff())).toEqual({ count: 1, bytes: 8 * 1024 ** 3 });
    expect(ec2.commandCalls(DeregisterImageCommand)).toHaveLength(0);
    expect(ec2.commandCalls(DeleteSnapshotCommand)).toHaveLength(0);
  });

  it('asks about no instances when no image is old', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [images[2]!] });
    expect(await expireUnusedImages(client, cutoff, false, recordingBackoff())).toEqual({ count: 0, bytes: 0 });
    expect(ec2.commandCalls(DescribeInstancesCommand)).toHaveLength(0);
  });
});
