import {
  CreateImageCommand,
  CreateKeyPairCommand,
  CreateTagsCommand,
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
  GetConsoleOutputCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { errorCode } from './aws-errors.ts';
import type { AwsClients } from './clients.ts';
import { resolveImage } from './images.ts';
import type { Ec2Settings } from './settings.ts';
import { explainAwsError } from './errors.ts';

export type CheckStatus = 'ok' | 'missing' | 'unknown';

export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
}

/** Ids that look real but name nothing: a dry run checks the permission, not the resource. */
const noInstance = 'i-00000000000000000';
const noImage = 'ami-00000000000000000';
const probeName = 'slipway-doctor-dry-run';

/** Every EC2 action Slipway calls, each with a dry run that asks AWS whether it is allowed. */
export function permissionProbes(imageId: string, instanceType: string): [action: string, probe: (ec2: EC2Client) => Promise<unknown>][] {
  return [
    ['RunInstances', (ec2) => ec2.send(new RunInstancesCommand({ DryRun: true, ImageId: imageId, InstanceType: instanceType as 't3.micro', MinCount: 1, MaxCount: 1 }))],
    ['TerminateInstances', (ec2) => ec2.send(new TerminateInstancesCommand({ DryRun: true, InstanceIds: [noInstance] }))],
    ['DescribeInstances', (ec2) => ec2.send(new DescribeInstancesCommand({ DryRun: true }))],
    ['CreateTags', (ec2) => ec2.send(new CreateTagsCommand({ DryRun: true, Resources: [noInstance], Tags: [{ Key: 'Name', Value: probeName }] }))],
    ['CreateKeyPair', (ec2) => ec2.send(new CreateKeyPairCommand({ DryRun: true, KeyName: probeName }))],
    ['DeleteKeyPair', (ec2) => ec2.send(new DeleteKeyPairCommand({ DryRun: true, KeyName: probeName }))],
    ['DescribeKeyPairs', (ec2) => ec2.send(new DescribeKeyPairsCommand({ DryRun: true }))],
    ['DescribeImages', (ec2) => ec2.send(new DescribeImagesCommand({ DryRun: true, Owners: ['self'] }))],
    ['CreateImage', (ec2) => ec2.send(new CreateImageCommand({ DryRun: true, InstanceId: noInstance, Name: probeName }))],
    ['DeregisterImage', (ec2) => ec2.send(new DeregisterImageCommand({ DryRun: true, ImageId: noImage }))],
    // A prepared image's bake reads the builder's console for the prepare script's exit status.
    ['GetConsoleOutput', (ec2) => ec2.send(new GetConsoleOutputCommand({ DryRun: true, InstanceId: noInstance }))],
    ['DescribeSnapshots', (ec2) => ec2.send(new DescribeSnapshotsCommand({ DryRun: true, OwnerIds: ['self'] }))],
    ['DeleteSnapshot', (ec2) => ec2.send(new DeleteSnapshotCommand({ DryRun: true, SnapshotId: 'snap-00000000000000000' }))],
    ['DescribeVolumes', (ec2) => ec2.send(new DescribeVolumesCommand({ DryRun: true }))],
    ['DeleteVolume', (ec2) => ec2.send(new DeleteVolumeCommand({ DryRun: true, VolumeId: 'vol-00000000000000000' }))],
    ['DescribeSecurityGroups', (ec2) => ec2.send(new DescribeSecurityGroupsCommand({ DryRun: true }))],
    ['DeleteSecurityGroup', (ec2) => ec2.send(new DeleteSecurityGroupCommand({ DryRun: true, GroupId: 'sg-00000000000000000' }))],
  ];
}

/** DryRunOperation: it would have run. UnauthorizedOperation: it is not allowed. Anything else leaves it open. */
export function dryRunStatus(outcome: unknown): { status: CheckStatus; detail: string } {
  const code = errorCode(outcome);
  if (code === 'DryRunOperation') return { status: 'ok', detail: 'allowed' };
  if (code === 'UnauthorizedOperation') return { status: 'missing', detail: 'not allowed' };
  return { status: 'unknown', detail: `could not tell: ${code}: ${(outcome as Error).message}` };
}

/** An IAM policy granting `actions` on EC2 (Slipway needs no other service's). */
export function iamPolicy(actions: readonly string[]): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Sid: 'Slipway', Effect: 'Allow', Action: actions.map((a) => `ec2:${a}`), Resource: '*' }],
  }, null, 2);
}

/**
 * Whether Slipway can work with AWS as configured: credentials, a region, then each EC2
 * permission by dry run. Stops after the first two when they fail, since every probe would
 * fail the same way.
 */
export async function runDoctor(clients: AwsClients, settings: Ec2Settings): Promise<Check[]> {
  const target = { region: settings.region, profile: settings.profile };
  const checks: Check[] = [];
  try {
    const region = await clients.ec2.config.region();
    checks.push({ name: 'region', status: 'ok', detail: region });
  } catch (error) {
    checks.push({ name: 'region', status: 'missing', detail: (explainAwsError(error, target) as Error).message });
    return checks;
  }
  try {
    const identity = await clients.sts.send(new GetCallerIdentityCommand({}));
    checks.push({ name: 'credentials', status: 'ok', detail: `${identity.Arn ?? '?'} (account ${identity.Account ?? '?'})` });
  } catch (error) {
    const explained = explainAwsError(error, target);
    checks.push({ name: 'credentials', status: 'missing', detail: explained instanceof Error ? explained.message : String(explained) });
    return checks;
  }
  const instanceType = settings.instance_types[0]!;
  // A real image lets the RunInstances dry run get as far as the permission check.
  const imageId = await resolveImage(clients.ec2, settings.image, instanceType).then((i) => i.imageId, () => noImage);
  for (const [action, probe] of permissionProbes(imageId, instanceType)) {
    const outcome = await probe(clients.ec2).then(() => Object.assign(new Error('allowed'), { name: 'DryRunOperation' }), (error: unknown) => error);
    checks.push({ name: `ec2:${action}`, ...dryRunStatus(outcome) });
  }
  return checks;
}
