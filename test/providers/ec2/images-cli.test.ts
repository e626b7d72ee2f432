import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CreateImageCommand,
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  GetConsoleOutputCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { Command } from 'commander';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { registerImages } from '../../../src/cli/images.ts';
import type { Confirmation } from '../../../src/cli/confirmation.ts';
import { decodedUserData } from './aws-fixtures.ts';
import { useCommandSandbox } from './command-sandbox.ts';

// Every EC2 client the command makes answers from this mock, never AWS.
const ec2 = mockClient(EC2Client);
const managed = { Key: 'slipway:managed', Value: 'true' };

const cli = useCommandSandbox('slipway-ec2-images-', '[providers.ec2]\nregion = "eu-west-1"\ninstance_types = ["t3.micro"]\nimage = "ami-0000000000000ba5e"\n', [ec2]);

const never: Confirmation = { interactive: () => false, ask: async () => { throw new Error('must not ask'); } };
const run = (args: string[], confirmation: Confirmation = never) => {
  const cli = new Command('slipway').exitOverride();
  registerImages(cli, confirmation);
  return cli.parseAsync(['node', 'slipway', ...args]);
};

const fp = 'f'.repeat(64);

describe('slipway images list', () => {
  it("shows Slipway's prepared images only, newest first", async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [
      { ImageId: 'ami-00000000000000001', Name: 'slipway-linux-aaaaaaaaaaaa', State: 'available', CreationDate: '2026-01-01T00:00:00.000Z', Tags: [managed, { Key: 'slipway:prepare-fingerprint', Value: fp }, { Key: 'slipway:base-image', Value: 'ami-0000000000000ba5e' }], BlockDeviceMappings: [{ Ebs: { SnapshotId: 'snap-1' } }] },
      { ImageId: 'ami-00000000000000002', Name: 'slipway-linux-bbbbbbbbbbbb', State: 'pending', CreationDate: '2026-02-01T00:00:00.000Z', Tags: [managed, { Key: 'slipway:prepare-fingerprint', Value: fp }] },
      { ImageId: 'ami-00000000000000003', Name: 'someone-elses', State: 'available', Tags: [{ Key: 'slipway:prepare-fingerprint', Value: fp }] },
    ] });
    await run(['images', 'list', '--json']);
    const listed = JSON.parse(cli.out) as { id: string; prepareFingerprint: string; baseImage: string; snapshots: string[] }[];
    expect(listed.map((i) => i.id)).toEqual(['ami-00000000000000002', 'ami-00000000000000001']);
    expect(listed[1]).toMatchObject({ prepareFingerprint: fp, baseImage: 'ami-0000000000000ba5e', snapshots: ['snap-1'] });
    const input = ec2.commandCalls(DescribeImagesCommand)[0]!.args[0].input;
    expect(input.Owners).toEqual(['self']);
    expect(input.Filters).toEqual([{ Name: 'tag:slipway:managed', Values: ['true'] }, { Name: 'tag-key', Values: ['slipway:prepare-fingerprint'] }]);

    cli.out = '';
    await run(['images', 'list']);
    expect(cli.out).toMatch(/^ID\s+NAME\s+STATE\s+CREATED\s+PREPARE\s+BASE IMAGE/);
    expect(cli.out).toMatch(/ami-00000000000000001\s+slipway-linux-aaaaaaaaaaaa\s+available\s+2026-01-01T00:00:00.000Z\s+ffffffffffff\s+ami-0000000000000ba5e/);
  });
});

describe('slipway images delete', () => {
  it('deregisters the image, then deletes its snapshots', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-00000000000000001', Tags: [managed], BlockDeviceMappings: [{ Ebs: { SnapshotId: 'snap-1' } }, { Ebs: { SnapshotId: 'snap-2' } }] }] });
    ec2.on(DeregisterImageCommand).resolves({});
    ec2.on(DeleteSnapshotCommand).resolves({});
    await run(['images', 'delete', 'ami-00000000000000001', '--yes']);
    expect(ec2.commandCalls(DeregisterImageCommand)[0]!.args[0].input).toEqual({ ImageId: 'ami-00000000000000001' });
    expect(ec2.commandCalls(DeleteSnapshotCommand).map((c) => c.args[0].input.SnapshotId)).toEqual(['snap-1', 'snap-2']);
    expect(cli.out).toBe('deleted ami-00000000000000001 and snap-1 snap-2\n');
  });

  it("refuses the whole request when one image is not Slipway's", async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [
      { ImageId: 'ami-00000000000000001', Tags: [managed] },
      { ImageId: 'ami-00000000000000002', Tags: [] },
    ] });
    await expect(run(['images', 'delete', 'ami-00000000000000001', 'ami-00000000000000002', '--yes'])).rejects.toThrow(/ami-00000000000000002 is not Slipway's/);
    expect(ec2.commandCalls(DeregisterImageCommand)).toHaveLength(0);
    expect(ec2.commandCalls(DeleteSnapshotCommand)).toHaveLength(0);
  });

  it('refuses without --yes when stdin is not a terminal, and asks on one', async () => {
    await expect(run(['images', 'delete', 'ami-00000000000000001'])).rejects.toThrow(/refusing to delete 1 image\(s\) without --yes/);
    const asked: string[] = [];
    await run(['images', 'delete', 'ami-00000000000000001'], { interactive: () => true, ask: async (q) => { asked.push(q); return false; } });
    expect(asked).toEqual(['Deregister ami-00000000000000001 and delete their snapshots? [y/N] ']);
    expect(ec2.calls()).toHaveLength(0);
  });
});

describe('slipway images build', () => {
  function pipeline(activity: string): string {
    const file = join(cli.dir, 'slipway.yml');
    writeFileSync(file, `name: p\nactivities:\n${activity}\nsteps:\n  s:\n    activity: linux\n    run: "true"\n`);
    return file;
  }

  it("bakes the image for an ec2 activity's prepare script from the base image", async () => {
    const text = 'apt-get install -y gcc';
    const file = pipeline(`  linux:\n    provider: ec2\n    prepare: ${text}`);
    const imageFp = createHash('sha256').update(`${createHash('sha256').update(text).digest('hex')}\nami-0000000000000ba5e`).digest('hex');
    ec2.on(DescribeImagesCommand, { ImageIds: ['ami-0000000000000ba5e'] }).resolves({ Images: [{ ImageId: 'ami-0000000000000ba5e' }] });
    ec2.on(DescribeImagesCommand, { Owners: ['self'] }).resolves({ Images: [] });
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0000000000000b1d0' }] });
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ State: { Name: 'stopped' } }] }] });
    ec2.on(GetConsoleOutputCommand).resolves({ Output: Buffer.from('slipway-prepare: exit 0\n').toString('base64') });
    ec2.on(CreateImageCommand).resolves({ ImageId: 'ami-0000000000000feed' });
    ec2.on(DescribeImagesCommand, { ImageIds: ['ami-0000000000000feed'] }).resolves({ Images: [{ State: 'available' }] });
    ec2.on(TerminateInstancesCommand).resolves({});

    await run(['images', 'build', '--activity', 'linux', file, '--json']);

    expect(JSON.parse(cli.out)).toMatchObject({ imageId: 'ami-0000000000000feed', baseImage: 'ami-0000000000000ba5e', built: true, name: `slipway-linux-${imageFp.slice(0, 12)}` });
    const input = ec2.commandCalls(RunInstancesCommand)[0]!.args[0].input;
    expect(input).toMatchObject({ ImageId: 'ami-0000000000000ba5e', InstanceType: 't3.micro', InstanceInitiatedShutdownBehavior: 'stop' });
    expect(decodedUserData(input.UserData)).toContain(Buffer.from(text).toString('base64'));
  });

  it('refuses an activity with no prepare script, or one not on ec2', async () => {
    const file = pipeline('  linux:\n    provider: ec2\n  here:\n    provider: local');
    await expect(run(['images', 'build', '--activity', 'linux', file])).rejects.toThrow(/activity 'linux' has no prepare script/);
    await expect(run(['images', 'build', '--activity', 'here', file])).rejects.toThrow(/runs on the local provider/);
    await expect(run(['images', 'build', '--activity', 'nope', file])).rejects.toThrow(/has no activity 'nope'/);
    expect(ec2.calls()).toHaveLength(0);
  });
});
