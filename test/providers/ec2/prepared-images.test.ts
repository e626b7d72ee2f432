import { createHash } from 'node:crypto';
import {
  CreateImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  GetConsoleOutputCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { bakeImage, builderUserData, prepareExitStatus, type BakeRequest } from '../../../src/providers/ec2/bake.ts';
import { Ec2Provider } from '../../../src/providers/ec2/ec2-provider.ts';
import { findPreparedImage, imageFingerprint, preparedImageName, preparedImageTags } from '../../../src/providers/ec2/prepared-images.ts';
import type { StartRequest } from '../../../src/providers/provider.ts';
import { awsError, decodedUserData, ec2Settings, recordingBackoff, testClient, startRequest } from './aws-fixtures.ts';

const client = testClient();
const ec2 = mockClient(client);
afterEach(() => ec2.reset());

const script = "apt-get install -y gcc; echo 'done' $HOME\n";
const fp = createHash('sha256').update(script).digest('hex');
const base = 'ami-0000000000000ba5e';
const imageFp = createHash('sha256').update(`${fp}\n${base}`).digest('hex');
const managed = { Key: 'slipway:managed', Value: 'true' };
const console64 = (text: string) => Buffer.from(text).toString('base64');

describe('prepared image identity', () => {
  it('fingerprints the prepare fingerprint with the base image, and names and tags the image by it', () => {
    expect(imageFingerprint(fp, base)).toBe(imageFp);
    expect(imageFingerprint(fp, 'ami-0000000000000other')).not.toBe(imageFp);
    expect(preparedImageName('linux', imageFp)).toBe(`slipway-linux-${imageFp.slice(0, 12)}`);
    expect(preparedImageName(undefined, imageFp)).toBe(`slipway-prepared-${imageFp.slice(0, 12)}`);
    expect(preparedImageTags({ prepareFingerprint: fp, baseImage: base, activity: 'linux' })).toEqual([
      managed,
      { Key: 'slipway:prepare-fingerprint', Value: fp },
      { Key: 'slipway:base-image', Value: base },
      { Key: 'slipway:image-fingerprint', Value: imageFp },
      { Key: 'Name', Value: `slipway-linux-${imageFp.slice(0, 12)}` },
    ]);
  });

  it('refuses a fingerprint that is not sha256 hex', () => {
    expect(() => imageFingerprint("x'; reboot", base)).toThrow(/64 lower-case hex/);
  });
});

describe('findPreparedImage', () => {
  it("asks for the account's own images by tag, and takes the newest available one whose tags match", async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [
      { ImageId: 'ami-00000000000000001', State: 'available', CreationDate: '2026-01-01', Tags: [managed, { Key: 'slipway:image-fingerprint', Value: imageFp }] },
      { ImageId: 'ami-00000000000000002', State: 'available', CreationDate: '2026-02-01', Tags: [managed, { Key: 'slipway:image-fingerprint', Value: imageFp }] },
      // AWS's filter is not trusted: no managed tag, so not ours.
      { ImageId: 'ami-00000000000000003', State: 'available', CreationDate: '2026-03-01', Tags: [{ Key: 'slipway:image-fingerprint', Value: imageFp }] },
    ] });
    expect(await findPreparedImage(client, { prepareFingerprint: fp, baseImage: base }, recordingBackoff())).toEqual({ imageId: 'ami-00000000000000002', state: 'available' });
    const input = ec2.commandCalls(DescribeImagesCommand)[0]!.args[0].input;
    expect(input.Owners).toEqual(['self']);
    expect(input.Filters).toEqual([
      { Name: 'tag:slipway:managed', Values: ['true'] },
      { Name: 'tag:slipway:image-fingerprint', Values: [imageFp] },
      { Name: 'state', Values: ['available', 'pending'] },
    ]);
  });

  it('reports a pending image, and nothing when there is none', async () => {
    ec2.on(DescribeImagesCommand).resolvesOnce({ Images: [{ ImageId: 'ami-00000000000000001', State: 'pending', Tags: [managed, { Key: 'slipway:image-fingerprint', Value: imageFp }] }] }).resolvesOnce({ Images: [] });
    expect(await findPreparedImage(client, { prepareFingerprint: fp, baseImage: base }, recordingBackoff())).toEqual({ imageId: 'ami-00000000000000001', state: 'pending' });
    expect(await findPreparedImage(client, { prepareFingerprint: fp, baseImage: base }, recordingBackoff())).toBeUndefined();
  });
});

describe('builderUserData', () => {
  it('carries the script base64-encoded, never as shell text, writes the markers only on success and powers off', () => {
    const text = builderUserData(script, fp);
    expect(text).toContain(Buffer.from(script).toString('base64'));
    expect(text).not.toContain('apt-get');
    expect(text).not.toContain("echo 'done'");
    expect(text).toContain(`/root/.slipway/prepared/${fp}`);
    expect(text).toContain(`"$home/.slipway/prepared/${fp}"`);
    expect(text).toMatch(/if \[ "\$status" -eq 0 \]; then\n {2}mkdir -p \/root\/\.slipway\/prepared/);
    expect(text).toContain('echo "slipway-prepare: exit $status"');
    expect(text.trimEnd().endsWith('shutdown -h now')).toBe(true);
    expect(() => builderUserData(script, 'nope')).toThrow(/64 lower-case hex/);
  });

  it('reads the last status line of the console', () => {
    expect(prepareExitStatus('boot\nslipway-prepare: exit 0\nx\nslipway-prepare: exit 3\n')).toBe(3);
    expect(prepareExitStatus('boot\n')).toBeUndefined();
  });
});

const bakeRequest: BakeRequest = { baseImage: base, instanceType: 't3.micro', subnet: 'subnet-0a', prepareText: script, fingerprint: fp, activity: 'linux' };
const settings = ec2Settings({ security_groups: ['sg-0b'], key_name: 'mine' });

function bakeOptions() {
  const sleeps: number[] = [];
  return { sleeps, options: { backoff: recordingBackoff(), sleep: async (ms: number) => void sleeps.push(ms), pollMs: 1000, stopTimeoutMs: 5000, imageTimeoutMs: 5000, consoleReads: 2 } };
}

function builderStates(...states: string[]) {
  let mock = ec2.on(DescribeInstancesCommand);
  for (const state of states) mock = mock.resolvesOnce({ Reservations: [{ Instances: [{ InstanceId: 'i-0000000000000b1d0', State: { Name: state as 'stopped' } }] }] });
}

describe('bakeImage', () => {
  it('starts a builder that stops on shutdown, waits for it to stop, makes the image, waits until available and terminates the builder', async () => {
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0000000000000b1d0' }] });
    builderStates('pending', 'running', 'stopped');
    ec2.on(GetConsoleOutputCommand).resolves({ Output: console64('cloud-init\nslipway-prepare: exit 0\n') });
    ec2.on(CreateImageCommand).resolves({ ImageId: 'ami-0000000000000feed' });
    ec2.on(DescribeImagesCommand, { ImageIds: ['ami-0000000000000feed'] }).resolvesOnce({ Images: [{ State: 'pending' }] }).resolves({ Images: [{ State: 'available' }] });
    ec2.on(TerminateInstancesCommand).resolves({});
    const { sleeps, options } = bakeOptions();

    const baked = await bakeImage(client, settings, bakeRequest, options);

    expect(baked).toEqual({ imageId: 'ami-0000000000000feed', name: `slipway-linux-${imageFp.slice(0, 12)}`, builderId: 'i-0000000000000b1d0' });
    const run = ec2.commandCalls(RunInstancesCommand)[0]!.args[0].input;
    expect(run).toMatchObject({
      ImageId: base, InstanceType: 't3.micro', SubnetId: 'subnet-0a', SecurityGroupIds: ['sg-0b'], KeyName: 'mine',
      InstanceInitiatedShutdownBehavior: 'stop', MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
    });
    expect(run.InstanceMarketOptions).toBeUndefined();
    const userData = decodedUserData(run.UserData);
    expect(userData).toContain(Buffer.from(script).toString('base64'));
    expect(userData).toContain(`/root/.slipway/prepared/${fp}`);
    expect(userData).not.toContain(script.trim());
    const builderTags = run.TagSpecifications![0]!.Tags!;
    expect(run.TagSpecifications!.map((t) => t.ResourceType)).toEqual(['instance', 'volume']);
    expect(builderTags).toContainEqual(managed);
    expect(builderTags).toContainEqual({ Key: 'slipway:role', Value: 'image-builder' });
    expect(builderTags.some((t) => t.Key === 'slipway:worker')).toBe(false);

    expect(ec2.commandCalls(DescribeInstancesCommand)).toHaveLength(3);
    const create = ec2.commandCalls(CreateImageCommand)[0]!.args[0].input;
    expect(create.InstanceId).toBe('i-0000000000000b1d0');
    expect(create.Name).toBe(`slipway-linux-${imageFp.slice(0, 12)}`);
    const tags = preparedImageTags({ prepareFingerprint: fp, baseImage: base, activity: 'linux' });
    expect(create.TagSpecifications).toEqual([{ ResourceType: 'image', Tags: tags }, { ResourceType: 'snapshot', Tags: tags }]);
    expect(ec2.commandCalls(DescribeImagesCommand)).toHaveLength(2);
    expect(ec2.commandCalls(TerminateInstancesCommand)[0]!.args[0].input).toEqual({ InstanceIds: ['i-0000000000000b1d0'] });
    // Two waits for the builder, one for the image, all through the injected sleep.
    expect(sleeps).toEqual([1000, 1000, 1000]);
  });

  it('fails with the exit code and the console when the prepare script failed, makes no image and still terminates the builder', async () => {
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0000000000000b1d0' }] });
    builderStates('stopped');
    ec2.on(GetConsoleOutputCommand).resolves({ Output: console64('E: Unable to locate package gcc\nslipway-prepare: exit 100\n') });
    ec2.on(TerminateInstancesCommand).resolves({});
    const error = await bakeImage(client, settings, bakeRequest, bakeOptions().options).then(() => new Error('baked'), (e: unknown) => e as Error);
    expect(error.message).toMatch(/the prepare script failed on builder i-0000000000000b1d0 with exit 100/);
    expect(error.message).toContain('Unable to locate package gcc');
    expect(ec2.commandCalls(CreateImageCommand)).toHaveLength(0);
    expect(ec2.commandCalls(TerminateInstancesCommand)).toHaveLength(1);
  });

  it('fails when the console never says how the script ended', async () => {
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0000000000000b1d0' }] });
    builderStates('stopped');
    ec2.on(GetConsoleOutputCommand).resolves({ Output: console64('kernel: boot\n') });
    ec2.on(TerminateInstancesCommand).resolves({});
    await expect(bakeImage(client, settings, bakeRequest, bakeOptions().options)).rejects.toThrow(/could not tell whether the prepare script succeeded/);
    expect(ec2.commandCalls(GetConsoleOutputCommand)).toHaveLength(2);
    expect(ec2.commandCalls(TerminateInstancesCommand)).toHaveLength(1);
  });

  it('gives up on a builder that never powers off, and terminates it', async () => {
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0000000000000b1d0' }] });
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ State: { Name: 'running' } }] }] });
    ec2.on(TerminateInstancesCommand).resolves({});
    const { sleeps, options } = bakeOptions();
    await expect(bakeImage(client, settings, bakeRequest, options)).rejects.toThrow(/did not power off/);
    expect(sleeps).toHaveLength(5);
    expect(ec2.commandCalls(TerminateInstancesCommand)).toHaveLength(1);
  });

  it('terminates the builder when CreateImage fails', async () => {
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0000000000000b1d0' }] });
    builderStates('stopped');
    ec2.on(GetConsoleOutputCommand).resolves({ Output: console64('slipway-prepare: exit 0\n') });
    ec2.on(CreateImageCommand).rejects(awsError('InvalidAMIName.Duplicate'));
    ec2.on(TerminateInstancesCommand).resolves({});
    await expect(bakeImage(client, settings, bakeRequest, bakeOptions().options)).rejects.toThrow(/InvalidAMIName\.Duplicate/);
    expect(ec2.commandCalls(TerminateInstancesCommand)).toHaveLength(1);
  });
});

describe('Ec2Provider.start with a prepare script', () => {
  const request: StartRequest & { prepare: { fingerprint: string; script: { kind: 'inline'; text: string } } } = {
    ...startRequest, activity: 'linux', prepare: { fingerprint: fp, script: { kind: 'inline', text: script } },
  };

  function provider() {
    const logged: string[] = [];
    const sleeps: number[] = [];
    const p = new Ec2Provider({
      settings: ec2Settings({ image: base, instance_types: ['t3.micro'], subnets: ['subnet-0a'] }),
      ec2: client,
      backoff: recordingBackoff(),
      bake: { sleep: async (ms) => void sleeps.push(ms), pollMs: 1, log: (m) => void logged.push(m) },
    });
    return { p, logged };
  }

  const runImages = () => ec2.commandCalls(RunInstancesCommand).map((c) => [c.args[0].input.ImageId, c.args[0].input.InstanceInitiatedShutdownBehavior]);

  it('starts the worker from the prepared image when it is available', async () => {
    ec2.on(DescribeImagesCommand, { ImageIds: [base] }).resolves({ Images: [{ ImageId: base }] });
    ec2.on(DescribeImagesCommand, { Owners: ['self'] }).resolves({ Images: [{ ImageId: 'ami-0000000000000feed', State: 'available', Tags: [managed, { Key: 'slipway:image-fingerprint', Value: imageFp }] }] });
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0aaaabbbbccccdddd' }] });
    const { p } = provider();
    await p.start(request);
    expect(runImages()).toEqual([['ami-0000000000000feed', 'terminate']]);
    expect(p.bakesInFlight()).toHaveLength(0);
  });

  it('starts from the base image and bakes once in the background when there is no image', async () => {
    ec2.on(DescribeImagesCommand, { ImageIds: [base] }).resolves({ Images: [{ ImageId: base }] });
    ec2.on(DescribeImagesCommand, { Owners: ['self'] }).resolves({ Images: [] });
    ec2.on(RunInstancesCommand, { InstanceInitiatedShutdownBehavior: 'terminate' }).resolves({ Instances: [{ InstanceId: 'i-0aaaabbbbccccdddd' }] });
    // The builder stays pending until the test lets it go on.
    let release!: () => void;
    const held = new Promise<void>((resolve) => { release = resolve; });
    ec2.on(RunInstancesCommand, { InstanceInitiatedShutdownBehavior: 'stop' }).callsFake(async () => {
      await held;
      return { Instances: [{ InstanceId: 'i-0000000000000b1d0' }] };
    });
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ State: { Name: 'stopped' } }] }] });
    ec2.on(GetConsoleOutputCommand).resolves({ Output: console64('slipway-prepare: exit 0\n') });
    ec2.on(CreateImageCommand).resolves({ ImageId: 'ami-0000000000000feed' });
    ec2.on(DescribeImagesCommand, { ImageIds: ['ami-0000000000000feed'] }).resolves({ Images: [{ State: 'available' }] });
    ec2.on(TerminateInstancesCommand).resolves({});
    const { p, logged } = provider();

    await p.start(request);
    await p.start({ ...request, workerId: 'w-0123abce' });
    expect(p.bakesInFlight()).toHaveLength(1);
    release();
    await Promise.all(p.bakesInFlight());

    const runs = runImages();
    expect(runs.filter(([, behaviour]) => behaviour === 'terminate')).toEqual([[base, 'terminate'], [base, 'terminate']]);
    expect(runs.filter(([, behaviour]) => behaviour === 'stop')).toEqual([[base, 'stop']]);
    expect(ec2.commandCalls(CreateImageCommand)).toHaveLength(1);
    expect(logged.at(-1)).toMatch(/^baked slipway-linux-/);
    expect(p.bakesInFlight()).toHaveLength(0);
  });

  it('falls back to the base image while the image is pending, baking nothing', async () => {
    ec2.on(DescribeImagesCommand, { ImageIds: [base] }).resolves({ Images: [{ ImageId: base }] });
    ec2.on(DescribeImagesCommand, { Owners: ['self'] }).resolves({ Images: [{ ImageId: 'ami-0000000000000feed', State: 'pending', Tags: [managed, { Key: 'slipway:image-fingerprint', Value: imageFp }] }] });
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0aaaabbbbccccdddd' }] });
    const { p } = provider();
    await p.start(request);
    expect(runImages()).toEqual([[base, 'terminate']]);
    expect(p.bakesInFlight()).toHaveLength(0);
  });

  it('starts from the base image, baking nothing, when the lookup fails', async () => {
    ec2.on(DescribeImagesCommand, { ImageIds: [base] }).resolves({ Images: [{ ImageId: base }] });
    ec2.on(DescribeImagesCommand, { Owners: ['self'] }).rejects(awsError('UnauthorizedOperation'));
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0aaaabbbbccccdddd' }] });
    const { p } = provider();
    await p.start(request);
    expect(runImages()).toEqual([[base, 'terminate']]);
    expect(p.bakesInFlight()).toHaveLength(0);
  });

  it('does not bake again after a bake failed', async () => {
    ec2.on(DescribeImagesCommand, { ImageIds: [base] }).resolves({ Images: [{ ImageId: base }] });
    ec2.on(DescribeImagesCommand, { Owners: ['self'] }).resolves({ Images: [] });
    ec2.on(RunInstancesCommand, { InstanceInitiatedShutdownBehavior: 'terminate' }).resolves({ Instances: [{ InstanceId: 'i-0aaaabbbbccccdddd' }] });
    ec2.on(RunInstancesCommand, { InstanceInitiatedShutdownBehavior: 'stop' }).resolves({ Instances: [{ InstanceId: 'i-0000000000000b1d0' }] });
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ State: { Name: 'stopped' } }] }] });
    ec2.on(GetConsoleOutputCommand).resolves({ Output: console64('slipway-prepare: exit 2\n') });
    ec2.on(TerminateInstancesCommand).resolves({});
    const { p, logged } = provider();
    await p.start(request);
    await Promise.all(p.bakesInFlight());
    await p.start(request);
    expect(p.bakesInFlight()).toHaveLength(0);
    expect(ec2.commandCalls(RunInstancesCommand, { InstanceInitiatedShutdownBehavior: 'stop' })).toHaveLength(1);
    expect(logged.at(-1)).toMatch(/failed: the prepare script failed .* exit 2/);
    expect([...p.failedBakes().keys()]).toEqual([imageFp]);
  });
});
