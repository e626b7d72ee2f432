import {
  CreateImageCommand,
  DescribeImagesCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { CredentialsProviderError } from '@smithy/core/config';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { dryRunStatus, iamPolicy, permissionProbes, runDoctor } from '../../../src/providers/ec2/doctor.ts';
import { awsError, ec2Settings } from './aws-fixtures.ts';

const credentials = { accessKeyId: 'AKIATEST', secretAccessKey: 'test' };
const ec2Client = new EC2Client({ region: 'eu-west-1', credentials, maxAttempts: 1 });
const stsClient = new STSClient({ region: 'eu-west-1', credentials, maxAttempts: 1 });
const ec2 = mockClient(ec2Client);
const sts = mockClient(stsClient);
afterEach(() => {
  ec2.reset();
  sts.reset();
});

describe('doctor', () => {
  it('reads DryRunOperation as allowed, UnauthorizedOperation as missing, anything else as unknown', () => {
    expect(dryRunStatus(awsError('DryRunOperation')).status).toBe('ok');
    expect(dryRunStatus(awsError('UnauthorizedOperation')).status).toBe('missing');
    expect(dryRunStatus(awsError('InvalidInstanceID.Malformed'))).toEqual({ status: 'unknown', detail: 'could not tell: InvalidInstanceID.Malformed: InvalidInstanceID.Malformed (test)' });
  });

  it('checks the region, the caller, and every action by dry run', async () => {
    sts.on(GetCallerIdentityCommand).resolves({ Arn: 'arn:aws:iam::123456789012:user/ci', Account: '123456789012' });
    ec2.onAnyCommand({ DryRun: true }).rejects(awsError('DryRunOperation'));
    ec2.on(DescribeImagesCommand, { Owners: ['136693071363'] }).resolves({ Images: [{ ImageId: 'ami-0debian000000000' }] });
    ec2.on(TerminateInstancesCommand).rejects(awsError('UnauthorizedOperation'));
    ec2.on(CreateImageCommand).rejects(awsError('UnauthorizedOperation'));

    const checks = await runDoctor({ ec2: ec2Client, sts: stsClient }, ec2Settings());

    expect(checks.slice(0, 2)).toEqual([
      { name: 'region', status: 'ok', detail: 'eu-west-1' },
      { name: 'credentials', status: 'ok', detail: 'arn:aws:iam::123456789012:user/ci (account 123456789012)' },
    ]);
    const missing = checks.filter((c) => c.status === 'missing').map((c) => c.name);
    expect(missing).toEqual(['ec2:TerminateInstances', 'ec2:CreateImage']);
    expect(checks.filter((c) => c.status === 'ok')).toHaveLength(checks.length - 2);
    expect(checks.map((c) => c.name)).toEqual(expect.arrayContaining([
      'ec2:RunInstances', 'ec2:TerminateInstances', 'ec2:DescribeInstances', 'ec2:CreateTags', 'ec2:CreateKeyPair', 'ec2:DeleteKeyPair',
      'ec2:DescribeImages', 'ec2:CreateImage', 'ec2:DeregisterImage', 'ec2:DescribeKeyPairs', 'ec2:DescribeSecurityGroups',
    ]));
    const run = ec2.commandCalls(RunInstancesCommand)[0]!.args[0].input;
    expect(run).toEqual({ DryRun: true, ImageId: 'ami-0debian000000000', InstanceType: 'c6i.large', MinCount: 1, MaxCount: 1 });
    // Every probe is a dry run; nothing is created.
    const probes = ec2.calls().map((c) => c.args[0].input as { DryRun?: boolean });
    expect(probes.filter((input) => !input.DryRun)).toHaveLength(1);
  });

  it('stops after credentials when none resolve, with the plain message', async () => {
    sts.on(GetCallerIdentityCommand).rejects(new CredentialsProviderError('Could not load credentials from any providers', { tryNextLink: false }));
    const checks = await runDoctor({ ec2: ec2Client, sts: stsClient }, ec2Settings({ profile: 'ci' }));
    expect(checks).toHaveLength(2);
    expect(checks[1]).toMatchObject({ name: 'credentials', status: 'missing' });
    expect(checks[1]!.detail).toMatch(/^no AWS credentials: tried the profile 'ci' named by \[providers\.ec2\]\.profile/);
    expect(ec2.calls()).toHaveLength(0);
  });

  it('has a dry run for every action it names and a policy granting them', () => {
    const actions = permissionProbes('ami-0', 't3.micro').map(([action]) => action);
    expect(new Set(actions).size).toBe(actions.length);
    const policy = JSON.parse(iamPolicy(['RunInstances', 'CreateTags']));
    expect(policy).toEqual({ Version: '2012-10-17', Statement: [{ Sid: 'Slipway', Effect: 'Allow', Action: ['ec2:RunInstances', 'ec2:CreateTags'], Resource: '*' }] });
  });
});
