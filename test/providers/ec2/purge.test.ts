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
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findManaged, purge } from '../../../src/providers/ec2/purge.ts';
import { awsError, recordingBackoff, testClient } from './aws-fixtures.ts';

const client = testClient();
const ec2 = mockClient(client);
const managed = [{ Key: 'slipway:managed', Value: 'true' }];
const named = (name: string) => [...managed, { Key: 'Name', Value: name }];

/** AWS as if its tag filters were ignored: tagged and untagged resources of every kind. */
function mockAccount(): void {
  ec2.on(DescribeInstancesCommand, { Filters: [{ Name: 'tag:slipway:managed', Values: ['true'] }, { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] }] }).resolves({ Reservations: [{ Instances: [
    { InstanceId: 'i-00000000000000001', State: { Name: 'running' }, Tags: named('ww-0-builder') },
    { InstanceId: 'i-00000000000000002', State: { Name: 'running' }, Tags: [{ Key: 'Name', Value: 'prod-db' }] },
    { InstanceId: 'i-00000000000000003', State: { Name: 'stopped' }, Tags: managed },
  ] }] });
  ec2.on(DescribeImagesCommand).resolves({ Images: [
    { ImageId: 'ami-00000000000000001', Tags: named('prepared'), BlockDeviceMappings: [{ Ebs: { SnapshotId: 'snap-00000000000000001' } }, { Ebs: { SnapshotId: 'snap-00000000000000002' } }] },
    { ImageId: 'ami-00000000000000009', Tags: [], BlockDeviceMappings: [{ Ebs: { SnapshotId: 'snap-00000000000000009' } }] },
  ] });
  ec2.on(DescribeSnapshotsCommand).resolves({ Snapshots: [
    { SnapshotId: 'snap-00000000000000001', Tags: managed },
    { SnapshotId: 'snap-00000000000000003', Tags: managed },
    { SnapshotId: 'snap-00000000000000008', Tags: [] },
  ] });
  ec2.on(DescribeVolumesCommand).resolves({ Volumes: [
    { VolumeId: 'vol-00000000000000001', State: 'available', Tags: managed },
    { VolumeId: 'vol-00000000000000002', State: 'available', Tags: [] },
  ] });
  ec2.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [
    { KeyPairId: 'key-1', KeyName: 'ci', Tags: managed },
    { KeyPairId: 'key-2', KeyName: 'alice', Tags: [] },
  ] });
  ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [
    { GroupId: 'sg-00000000000000001', GroupName: 'slipway-workers', Tags: managed },
    { GroupId: 'sg-00000000000000002', GroupName: 'default' },
  ] });
}

beforeEach(mockAccount);
afterEach(() => ec2.reset());

describe('purge', () => {
  it("finds exactly the tagged resources, and a tagged image's snapshots, in deletion order", async () => {
    const found = await findManaged(client, recordingBackoff());
    expect(found.map((r) => `${r.kind} ${r.id}`)).toEqual([
      'instance i-00000000000000001',
      'instance i-00000000000000003',
      'image ami-00000000000000001',
      'snapshot snap-00000000000000001',
      'snapshot snap-00000000000000003',
      'snapshot snap-00000000000000002',
      'volume vol-00000000000000001',
      'key-pair key-1',
      'security-group sg-00000000000000001',
    ]);
    expect(found.find((r) => r.id === 'snap-00000000000000002')!.note).toBe('of ami-00000000000000001');
    const filter = { Name: 'tag:slipway:managed', Values: ['true'] };
    expect(ec2.commandCalls(DescribeImagesCommand)[0]!.args[0].input).toEqual({ Owners: ['self'], Filters: [filter] });
    expect(ec2.commandCalls(DescribeSnapshotsCommand)[0]!.args[0].input).toEqual({ OwnerIds: ['self'], Filters: [filter] });
    expect(ec2.commandCalls(DescribeVolumesCommand)[0]!.args[0].input).toEqual({ Filters: [filter, { Name: 'status', Values: ['available'] }] });
    expect(ec2.commandCalls(DescribeKeyPairsCommand)[0]!.args[0].input).toEqual({ Filters: [filter] });
    expect(ec2.commandCalls(DescribeSecurityGroupsCommand)[0]!.args[0].input).toEqual({ Filters: [filter] });
  });

  it('deletes only those, instances first (waiting until they are terminated), and nothing untagged', async () => {
    ec2.on(TerminateInstancesCommand).resolves({});
    ec2.on(DescribeInstancesCommand, { InstanceIds: ['i-00000000000000001', 'i-00000000000000003'] })
      .resolvesOnce({ Reservations: [{ Instances: [{ InstanceId: 'i-00000000000000001', State: { Name: 'shutting-down' } }] }] })
      .resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-00000000000000001', State: { Name: 'terminated' } }] }] });
    ec2.on(DeregisterImageCommand).resolves({});
    ec2.on(DeleteSnapshotCommand).resolves({});
    ec2.on(DeleteVolumeCommand).resolves({});
    ec2.on(DeleteKeyPairCommand).resolves({});
    ec2.on(DeleteSecurityGroupCommand).resolves({});
    const backoff = recordingBackoff();
    const outcomes = await purge(client, await findManaged(client, backoff), { backoff, pollMs: 1000 });

    expect(outcomes.every((o) => o.error === '')).toBe(true);
    expect(backoff.delays).toEqual([1000]);
    const deletions = ec2.calls().map((c) => c.args[0]).filter((command) => !command.constructor.name.startsWith('Describe'))
      .map((command) => `${command.constructor.name.replace(/Command$/, '')} ${JSON.stringify(command.input)}`);
    expect(deletions).toEqual([
      'TerminateInstances {"InstanceIds":["i-00000000000000001","i-00000000000000003"]}',
      'DeregisterImage {"ImageId":"ami-00000000000000001"}',
      'DeleteSnapshot {"SnapshotId":"snap-00000000000000001"}',
      'DeleteSnapshot {"SnapshotId":"snap-00000000000000003"}',
      'DeleteSnapshot {"SnapshotId":"snap-00000000000000002"}',
      'DeleteVolume {"VolumeId":"vol-00000000000000001"}',
      'DeleteKeyPair {"KeyPairId":"key-1"}',
      'DeleteSecurityGroup {"GroupId":"sg-00000000000000001"}',
    ]);
  });

  it('carries on past a failure, reports it, and counts a resource already gone as deleted', async () => {
    const resources = [
      { kind: 'image' as const, id: 'ami-00000000000000001', name: '', note: '' },
      { kind: 'snapshot' as const, id: 'snap-00000000000000001', name: '', note: '' },
      { kind: 'security-group' as const, id: 'sg-00000000000000001', name: '', note: '' },
    ];
    ec2.on(DeregisterImageCommand).rejects(awsError('InvalidAMIID.NotFound'));
    ec2.on(DeleteSnapshotCommand).rejects(awsError('InvalidSnapshot.InUse'));
    ec2.on(DeleteSecurityGroupCommand).resolves({});
    const outcomes = await purge(client, resources, { backoff: recordingBackoff() });
    expect(outcomes.map((o) => o.error)).toEqual(['', 'InvalidSnapshot.InUse: InvalidSnapshot.InUse (test)', '']);
  });

  it('gives up waiting for instances after its limit and reports them', async () => {
    ec2.reset();
    ec2.on(TerminateInstancesCommand).resolves({});
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-00000000000000001', State: { Name: 'shutting-down' } }] }] });
    const outcomes = await purge(client, [{ kind: 'instance', id: 'i-00000000000000001', name: '', note: '' }], { backoff: recordingBackoff(), pollMs: 1000, terminateWaitMs: 3000 });
    expect(outcomes[0]!.error).toBe('Error: still i-00000000000000001 shutting-down after 3s');
  });
});
