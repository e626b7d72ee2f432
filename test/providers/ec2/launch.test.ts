import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { NoCapacity } from '../../../src/providers/ec2/errors.ts';
import { launch, type LaunchSpec } from '../../../src/providers/ec2/launch.ts';
import { placements } from '../../../src/providers/ec2/placements.ts';
import { awsError, recordingBackoff, testClient } from './aws-fixtures.ts';

const client = testClient();
const ec2 = mockClient(client);
afterEach(() => ec2.reset());

const spec: LaunchSpec = {
  imageFor: async () => 'ami-00000000000000001',
  instanceTypes: ['c6i.large', 'm6i.large'],
  subnets: ['subnet-0a', 'subnet-0b'],
  securityGroups: [],
  spot: true,
  tags: [{ Key: 'slipway:managed', Value: 'true' }],
};

const tried = () => ec2.commandCalls(RunInstancesCommand).map((c) => {
  const input = c.args[0].input;
  return `${input.InstanceMarketOptions ? 'spot' : 'on-demand'} ${input.InstanceType} ${input.SubnetId ?? '-'}`;
});

const ok = { Instances: [{ InstanceId: 'i-0aaaabbbbccccdddd' }] };

describe('launch', () => {
  it('orders placements: spot before on-demand, then types, then subnets', () => {
    expect(placements(spec).map((p) => `${p.market} ${p.instanceType} ${p.subnetId}`)).toEqual([
      'spot c6i.large subnet-0a', 'spot c6i.large subnet-0b', 'spot m6i.large subnet-0a', 'spot m6i.large subnet-0b',
      'on-demand c6i.large subnet-0a', 'on-demand c6i.large subnet-0b', 'on-demand m6i.large subnet-0a', 'on-demand m6i.large subnet-0b',
    ]);
    expect(placements({ ...spec, spot: false, subnets: [] })).toEqual([
      { market: 'on-demand', instanceType: 'c6i.large', subnetId: undefined },
      { market: 'on-demand', instanceType: 'm6i.large', subnetId: undefined },
    ]);
  });

  it('takes the next subnet, then the next type, on capacity errors, and stops at the first success', async () => {
    ec2.on(RunInstancesCommand)
      .rejectsOnce(awsError('InsufficientInstanceCapacity'))
      .rejectsOnce(awsError('Unsupported'))
      .resolvesOnce(ok);
    const launched = await launch(client, spec, recordingBackoff());
    expect(tried()).toEqual(['spot c6i.large subnet-0a', 'spot c6i.large subnet-0b', 'spot m6i.large subnet-0a']);
    expect(launched).toEqual({ market: 'spot', instanceType: 'm6i.large', subnetId: 'subnet-0a', instanceId: 'i-0aaaabbbbccccdddd', imageId: 'ami-00000000000000001' });
  });

  it('falls back from spot to on-demand when no spot capacity is anywhere', async () => {
    ec2.on(RunInstancesCommand, { InstanceMarketOptions: { MarketType: 'spot' } }).rejects(awsError('InsufficientInstanceCapacity'));
    ec2.on(RunInstancesCommand, { InstanceMarketOptions: undefined }).resolves(ok);
    const launched = await launch(client, { ...spec, subnets: [] }, recordingBackoff());
    expect(tried()).toEqual(['spot c6i.large -', 'spot m6i.large -', 'on-demand c6i.large -']);
    expect(launched.market).toBe('on-demand');
  });

  it('does not retry an error that is not about capacity', async () => {
    ec2.on(RunInstancesCommand).rejectsOnce(awsError('InsufficientInstanceCapacity')).rejects(awsError('InvalidAMIID.NotFound'));
    await expect(launch(client, spec, recordingBackoff())).rejects.toThrow(/InvalidAMIID\.NotFound/);
    expect(tried()).toHaveLength(2);
  });

  it('names every placement it tried when none had capacity', async () => {
    ec2.on(RunInstancesCommand).rejects(awsError('InsufficientInstanceCapacity'));
    const error = await launch(client, { ...spec, spot: false, instanceTypes: ['c6i.large'] }, recordingBackoff()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoCapacity);
    expect((error as NoCapacity).message).toBe('no capacity for an instance anywhere it may go: on-demand c6i.large in subnet-0a: InsufficientInstanceCapacity; on-demand c6i.large in subnet-0b: InsufficientInstanceCapacity');
    expect(tried()).toHaveLength(2);
  });

  it('backs off on RequestLimitExceeded at the same placement, with growing delays, then gives up', async () => {
    ec2.on(RunInstancesCommand).rejectsOnce(awsError('RequestLimitExceeded')).rejectsOnce(awsError('RequestLimitExceeded')).resolvesOnce(ok);
    const backoff = recordingBackoff(4);
    await launch(client, spec, backoff);
    expect(tried()).toEqual(['spot c6i.large subnet-0a', 'spot c6i.large subnet-0a', 'spot c6i.large subnet-0a']);
    expect(backoff.delays).toEqual([75, 150]);

    ec2.reset();
    ec2.on(RunInstancesCommand).rejects(awsError('RequestLimitExceeded'));
    const giveUp = recordingBackoff(4);
    await expect(launch(client, spec, giveUp)).rejects.toThrow(/RequestLimitExceeded/);
    expect(tried()).toHaveLength(4);
    expect(giveUp.delays).toEqual([75, 150, 300]);
  });
});
