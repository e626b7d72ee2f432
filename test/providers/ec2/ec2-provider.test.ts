import {
  CreateTagsCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { CredentialsProviderError } from '@smithy/core/config';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { Ec2Provider } from '../../../src/providers/ec2/ec2-provider.ts';
import { AwsSetupError } from '../../../src/providers/ec2/errors.ts';
import { debianOwner } from '../../../src/providers/ec2/images.ts';
import type { Provider } from '../../../src/providers/provider.ts';
import { awsError, decodedUserData, ec2Settings, recordingBackoff, testClient, startRequest } from './aws-fixtures.ts';

const client = testClient();
const ec2 = mockClient(client);
afterEach(() => ec2.reset());

const request = startRequest;

function provider(overrides: Parameters<typeof ec2Settings>[0] = {}) {
  const backoff = recordingBackoff();
  return { backoff, provider: new Ec2Provider({ settings: ec2Settings(overrides), ec2: client, backoff, now: () => 1_700_000_000_000 }) };
}

function runInputs(): RunInstancesCommandInput[] {
  return ec2.commandCalls(RunInstancesCommand).map((call) => call.args[0].input);
}

const started = { Instances: [{ InstanceId: 'i-0aaaabbbbccccdddd' }] };

describe('Ec2Provider.start', () => {
  it('runs one instance from the newest Debian 12 image with user data, tags on instance and volume, and terminate-on-shutdown', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [
      { ImageId: 'ami-00000000000000001', CreationDate: '2025-01-01T00:00:00.000Z' },
      { ImageId: 'ami-00000000000000002', CreationDate: '2026-03-01T00:00:00.000Z' },
    ] });
    ec2.on(RunInstancesCommand).resolves(started);
    const { provider: p } = provider({ subnets: ['subnet-0a'], security_groups: ['sg-0b'], key_name: 'mine', instance_types: ['c6i.large'] });

    const machine = await p.start(request);

    expect(machine).toEqual({ instanceId: 'i-0aaaabbbbccccdddd', instanceType: 'c6i.large', market: 'on-demand', platform: 'linux', launchedAt: 1_700_000_000_000, hourly_usd: 0.085, billing: 'per-second' });
    const images = ec2.commandCalls(DescribeImagesCommand)[0]!.args[0].input;
    expect(images.Owners).toEqual([debianOwner]);
    expect(images.Filters).toContainEqual({ Name: 'name', Values: ['debian-12-amd64-*'] });
    expect(images.Filters).toContainEqual({ Name: 'architecture', Values: ['x86_64'] });

    const [input] = runInputs();
    expect(input).toMatchObject({
      ImageId: 'ami-00000000000000002',
      InstanceType: 'c6i.large',
      MinCount: 1,
      MaxCount: 1,
      SubnetId: 'subnet-0a',
      SecurityGroupIds: ['sg-0b'],
      KeyName: 'mine',
      InstanceInitiatedShutdownBehavior: 'terminate',
      MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
    });
    expect(input!.InstanceMarketOptions).toBeUndefined();
    const tags = [
      { Key: 'slipway:managed', Value: 'true' },
      { Key: 'slipway:coordinator', Value: 's-0123456789abcdef' },
      { Key: 'slipway:worker', Value: 'w-0123abcd' },
      { Key: 'slipway:activity', Value: 'builder' },
      { Key: 'slipway:run', Value: 'r-89abcdef' },
      { Key: 'Name', Value: 'ww-0-builder' },
    ];
    expect(input!.TagSpecifications).toEqual([{ ResourceType: 'instance', Tags: tags }, { ResourceType: 'volume', Tags: tags }]);
    const script = decodedUserData(input!.UserData);
    expect(script).toMatch(/^#!\/bin\/sh\n/);
    expect(script).toContain(`SLIPWAY_SERVER='https://ci.example.com:7070'`);
    expect(script).toContain(`SLIPWAY_REGISTRATION_TOKEN='${request.registrationToken}'`);
    expect(script).toContain(`SLIPWAY_WORKER='w-0123abcd'`);
    expect(script).toContain('/api/v1/agent/bootstrap.sh');
    expect(script).toContain('shutdown -h now');
  });

  it('asks for a one-time spot instance that terminates when interrupted', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-00000000000000001' }] });
    ec2.on(RunInstancesCommand).resolves(started);
    const machine = await provider({ spot: true }).provider.start(request);
    expect(machine.market).toBe('spot');
    expect(runInputs()[0]!.InstanceMarketOptions).toEqual({ MarketType: 'spot', SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' } });
  });

  it('uses a configured AMI as it is, with PowerShell user data when it is a Windows image', async () => {
    ec2.on(DescribeImagesCommand, { ImageIds: ['ami-0123456789abcdef0'] }).resolves({ Images: [{ ImageId: 'ami-0123456789abcdef0', Platform: 'Windows' }] });
    ec2.on(RunInstancesCommand).resolves(started);
    const machine = await provider({ image: 'ami-0123456789abcdef0' }).provider.start(request);
    expect(machine).toMatchObject({ platform: 'windows', billing: 'per-hour' });
    expect(runInputs()[0]!.ImageId).toBe('ami-0123456789abcdef0');
    expect(decodedUserData(runInputs()[0]!.UserData)).toMatch(/^<powershell>/);
  });

  it("takes an activity's own instance types first, with the image for each type's architecture", async () => {
    ec2.on(DescribeImagesCommand).callsFake((input: { Filters: { Name: string; Values: string[] }[] }) => {
      const arch = input.Filters.find((f) => f.Name === 'architecture')!.Values[0];
      return { Images: [{ ImageId: arch === 'arm64' ? 'ami-000000000000000a4' : 'ami-000000000000000a8' }] };
    });
    ec2.on(RunInstancesCommand).rejectsOnce(awsError('InsufficientInstanceCapacity')).resolves(started);
    const { provider: p } = provider();
    await p.start({ ...request, instance: { type: ['c7g.large', 'c6i.large'] } });
    expect(runInputs().map((i) => [i.InstanceType, i.ImageId])).toEqual([['c7g.large', 'ami-000000000000000a4'], ['c6i.large', 'ami-000000000000000a8']]);
  });

  it('refuses a server URL that does not fit the strict pattern before calling AWS', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-00000000000000001' }] });
    await expect(provider().provider.start({ ...request, serverUrl: "http://x';reboot;'" })).rejects.toThrow(/server URL/);
    expect(runInputs()).toHaveLength(0);
  });

  it('says plainly when there are no credentials', async () => {
    ec2.on(DescribeImagesCommand).rejects(new CredentialsProviderError('Could not load credentials from any providers', { tryNextLink: false }));
    const error = await provider({ profile: 'ci' }).provider.start(request).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AwsSetupError);
    expect((error as Error).message).toMatch(/^no AWS credentials: tried the profile 'ci'/);
  });

  it('says so when the region has no Debian image', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });
    await expect(provider().provider.start(request)).rejects.toThrow(/no official Debian 12 x86_64 image/);
  });
});

describe('Ec2Provider.stop, status, inventory, rename', () => {
  const machine = { instanceId: 'i-0aaaabbbbccccdddd' };

  it('stop terminates the instance, and an instance already gone is fine', async () => {
    ec2.on(TerminateInstancesCommand).resolvesOnce({}).rejectsOnce(awsError('InvalidInstanceID.NotFound'));
    const { provider: p } = provider();
    await p.stop(machine);
    await (p as Provider).stop(machine, { drained: true });
    expect(ec2.commandCalls(TerminateInstancesCommand).map((c) => c.args[0].input)).toEqual([{ InstanceIds: ['i-0aaaabbbbccccdddd'] }, { InstanceIds: ['i-0aaaabbbbccccdddd'] }]);
  });

  it('stop passes other errors on after backing off on throttling', async () => {
    ec2.on(TerminateInstancesCommand).rejectsOnce(awsError('RequestLimitExceeded')).rejects(awsError('UnauthorizedOperation'));
    const { provider: p, backoff } = provider();
    await expect(p.stop(machine)).rejects.toThrow(/UnauthorizedOperation/);
    expect(backoff.delays).toHaveLength(1);
  });

  it('refuses a handle that is not an instance id', async () => {
    await expect(provider().provider.stop({ pid: 12 })).rejects.toThrow(/not an EC2 machine handle/);
    expect(ec2.calls()).toHaveLength(0);
  });

  it.each([
    ['pending', 'running'],
    ['running', 'running'],
    ['stopping', 'running'],
    ['stopped', 'running'],
    ['shutting-down', 'gone'],
    ['terminated', 'gone'],
  ])('status maps the state %s to %s', async (state, expected) => {
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: machine.instanceId, State: { Name: state as 'running' } }] }] });
    expect(await provider().provider.status(machine)).toBe(expected);
    expect(ec2.commandCalls(DescribeInstancesCommand)[0]!.args[0].input).toEqual({ InstanceIds: [machine.instanceId] });
  });

  it('status is gone when the instance is not found (or not listed) and unknown on other errors', async () => {
    ec2.on(DescribeInstancesCommand).rejectsOnce(awsError('InvalidInstanceID.NotFound')).resolvesOnce({ Reservations: [] }).rejects(awsError('UnauthorizedOperation'));
    const { provider: p } = provider();
    expect(await p.status(machine)).toBe('gone');
    expect(await p.status(machine)).toBe('gone');
    expect(await p.status(machine)).toBe('unknown');
  });

  it("inventory lists the workers' instances in live states, page by page, by Slipway's tags", async () => {
    ec2.on(DescribeInstancesCommand)
      .resolvesOnce({ NextToken: 'page2', Reservations: [{ Instances: [
        { InstanceId: 'i-00000000000000001', InstanceType: 'c6i.large', Tags: [{ Key: 'slipway:managed', Value: 'true' }, { Key: 'slipway:worker', Value: 'w-00000001' }] },
      ] }] })
      .resolvesOnce({ Reservations: [{ Instances: [
        { InstanceId: 'i-00000000000000002', InstanceType: 't3.micro', Tags: [{ Key: 'slipway:worker', Value: 'w-00000002' }] },
      ] }] });
    const found = await provider().provider.inventory('s-0123456789abcdef');
    expect(found).toEqual([
      { workerId: 'w-00000001', machine: { instanceId: 'i-00000000000000001', instanceType: 'c6i.large' } },
      { workerId: 'w-00000002', machine: { instanceId: 'i-00000000000000002', instanceType: 't3.micro' } },
    ]);
    const inputs = ec2.commandCalls(DescribeInstancesCommand).map((c) => c.args[0].input);
    expect(inputs[0]!.Filters).toEqual([
      { Name: 'tag:slipway:managed', Values: ['true'] },
      // Only this store's: another coordinator's instances in the account are not strays.
      { Name: 'tag:slipway:coordinator', Values: ['s-0123456789abcdef'] },
      { Name: 'tag-key', Values: ['slipway:worker'] },
      { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
    ]);
    expect(inputs[1]!.NextToken).toBe('page2');
  });

  it('inventory backs off on a throttled page and carries on', async () => {
    ec2.on(DescribeInstancesCommand)
      .resolvesOnce({ NextToken: 'page2', Reservations: [] })
      .rejectsOnce(awsError('RequestLimitExceeded'))
      .resolvesOnce({ Reservations: [{ Instances: [{ InstanceId: 'i-00000000000000002', Tags: [{ Key: 'slipway:worker', Value: 'w-00000002' }] }] }] });
    const { provider: p, backoff } = provider();
    expect((await p.inventory('s-0123456789abcdef')).map((m) => m.workerId)).toEqual(['w-00000002']);
    expect(backoff.delays).toHaveLength(1);
    expect(ec2.commandCalls(DescribeInstancesCommand).map((c) => c.args[0].input.NextToken)).toEqual([undefined, 'page2', 'page2']);
  });

  it('rename sets the Name tag', async () => {
    ec2.on(CreateTagsCommand).resolves({});
    await provider().provider.rename(machine, 'wa-3-build-binary[version=4.28.2]');
    expect(ec2.commandCalls(CreateTagsCommand)[0]!.args[0].input).toEqual({ Resources: [machine.instanceId], Tags: [{ Key: 'Name', Value: 'wa-3-build-binary[version=4.28.2]' }] });
  });
});
