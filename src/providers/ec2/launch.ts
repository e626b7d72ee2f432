import { RunInstancesCommand, type EC2Client, type RunInstancesCommandInput, type Tag } from '@aws-sdk/client-ec2';
import { errorCode, isCapacityError } from './aws-errors.ts';
import { withBackoff, type BackoffOptions } from './backoff.ts';
import { NoCapacity } from './errors.ts';
import { placements, type Placement } from './placements.ts';
import { instanceTagSpecifications } from './tags.ts';

export interface LaunchSpec {
  /** The image for each instance type (its architecture decides it). */
  imageFor: (instanceType: string) => Promise<string>;
  instanceTypes: readonly string[];
  subnets: readonly string[];
  securityGroups: readonly string[];
  spot: boolean;
  keyName?: string | undefined;
  /** Base64, or none for a bare instance. */
  userData?: string | undefined;
  tags: Tag[];
  /** What powering off does: a worker's instance is terminated (default), an image builder's is parked. */
  shutdown?: 'terminate' | 'stop';
}

export interface Launched extends Placement {
  instanceId: string;
  imageId: string;
}

function runInstancesInput(spec: LaunchSpec, placement: Placement, imageId: string): RunInstancesCommandInput {
  return {
    ImageId: imageId,
    InstanceType: placement.instanceType as RunInstancesCommandInput['InstanceType'],
    MinCount: 1,
    MaxCount: 1,
    ...(placement.subnetId ? { SubnetId: placement.subnetId } : {}),
    ...(spec.securityGroups.length > 0 ? { SecurityGroupIds: [...spec.securityGroups] } : {}),
    ...(spec.keyName ? { KeyName: spec.keyName } : {}),
    ...(spec.userData ? { UserData: spec.userData } : {}),
    // The agent powers the machine off when it exits; that must end the bill, not park it.
    InstanceInitiatedShutdownBehavior: spec.shutdown ?? 'terminate',
    ...(placement.market === 'spot'
      ? { InstanceMarketOptions: { MarketType: 'spot', SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' } } }
      : {}),
    // The registration token sits in user data; IMDSv2 keeps it from SSRF-style reads.
    MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
    TagSpecifications: instanceTagSpecifications(spec.tags),
  };
}

/** Starts one instance at the first placement with capacity; any other error ends the search. */
export async function launch(ec2: EC2Client, spec: LaunchSpec, backoff?: BackoffOptions): Promise<Launched> {
  const tried: { placement: Placement; code: string }[] = [];
  for (const placement of placements(spec)) {
    const imageId = await spec.imageFor(placement.instanceType);
    try {
      const result = await withBackoff(() => ec2.send(new RunInstancesCommand(runInstancesInput(spec, placement, imageId))), backoff);
      const instanceId = result.Instances?.[0]?.InstanceId;
      if (!instanceId) throw new Error('RunInstances answered without an instance id');
      return { ...placement, instanceId, imageId };
    } catch (error) {
      if (!isCapacityError(error)) throw error;
      tried.push({ placement, code: errorCode(error) });
    }
  }
  throw new NoCapacity(tried);
}
