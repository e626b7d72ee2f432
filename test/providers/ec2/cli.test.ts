import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CreateKeyPairCommand,
  DeleteKeyPairCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { Command } from 'commander';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { registerDoctor } from '../../../src/cli/doctor.ts';
import { registerInstances } from '../../../src/cli/instances.ts';
import { registerKeys } from '../../../src/cli/keys.ts';
import type { Confirmation } from '../../../src/cli/confirmation.ts';
import { registerPurge } from '../../../src/cli/purge.ts';
import { Sandbox } from '../../helpers/cli.ts';
import { awsError } from './aws-fixtures.ts';
import { useCommandSandbox } from './command-sandbox.ts';

// Every EC2 and STS client the commands make answers from these mocks, never AWS.
const ec2 = mockClient(EC2Client);
const sts = mockClient(STSClient);
const managed = [{ Key: 'slipway:managed', Value: 'true' }];

const cli = useCommandSandbox('slipway-ec2-cli-', '[providers.ec2]\nregion = "eu-west-1"\ninstance_types = ["t3.micro"]\n', [ec2, sts]);

function program(confirmation?: Confirmation): Command {
  const cli = new Command('slipway').exitOverride();
  registerKeys(cli);
  registerInstances(cli);
  registerPurge(cli, confirmation);
  registerDoctor(cli);
  return cli;
}

const run = (args: string[], confirmation?: Confirmation) => program(confirmation).parseAsync(['node', 'slipway', ...args]);

describe('slipway keys', () => {
  it('create saves the private key under the state directory with mode 0600', async () => {
    ec2.on(CreateKeyPairCommand).resolves({ KeyPairId: 'key-1', KeyMaterial: 'PRIVATE' });
    await run(['keys', 'create', 'ci', '--json']);
    const path = join(cli.dir, 'state', 'slipway', 'keys', 'ci.pem');
    expect(JSON.parse(cli.out)).toMatchObject({ name: 'ci', id: 'key-1', privateKey: path });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(cli.dir, 'state', 'slipway', 'keys')).mode & 0o777).toBe(0o700);
  });

  it('list prints a table', async () => {
    ec2.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [{ KeyName: 'ci', KeyPairId: 'key-1', KeyType: 'ed25519', Tags: managed }] });
    await run(['keys', 'list']);
    expect(cli.out.split('\n')[0]).toMatch(/^NAME\s+ID\s+TYPE\s+CREATED\s+PRIVATE KEY/);
    expect(cli.out).toMatch(/ci\s+key-1\s+ed25519\s+\(not on this machine\)/);
  });

  it("delete refuses a key pair that is not Slipway's, in words", async () => {
    ec2.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [{ KeyName: 'alice', KeyPairId: 'key-2', Tags: [] }] });
    await expect(run(['keys', 'delete', 'alice', '--yes'])).rejects.toMatchObject({ name: 'Ec2Refusal', message: expect.stringMatching(/not Slipway's/) });
    expect(ec2.commandCalls(DeleteKeyPairCommand)).toHaveLength(0);
  });

  it('create refuses an unknown key type', async () => {
    await expect(run(['keys', 'create', 'ci', '--type', 'dsa'])).rejects.toThrow(/--type takes ed25519 or rsa/);
  });
});

describe('slipway instances', () => {
  it('create starts a bare tagged instance with no user data', async () => {
    ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-00000000000000001' }] });
    ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0aaaabbbbccccdddd' }] });
    await run(['instances', 'create', '--name', 'prep', '--key', 'ci']);
    const input = ec2.commandCalls(RunInstancesCommand)[0]!.args[0].input;
    expect(input).toMatchObject({ InstanceType: 't3.micro', KeyName: 'ci', InstanceInitiatedShutdownBehavior: 'terminate' });
    expect(input.UserData).toBeUndefined();
    expect(input.TagSpecifications![0]!.Tags).toEqual([...managed, { Key: 'Name', Value: 'prep' }]);
    expect(cli.out).toContain('started i-0aaaabbbbccccdddd (on-demand t3.micro, ami-00000000000000001)');
  });

  it("list shows Slipway's instances only", async () => {
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [
      { InstanceId: 'i-00000000000000001', InstanceType: 't3.micro', State: { Name: 'running' }, InstanceLifecycle: 'spot', Tags: [...managed, { Key: 'Name', Value: 'ww-0-b' }, { Key: 'slipway:worker', Value: 'w-00000001' }] },
      { InstanceId: 'i-00000000000000002', State: { Name: 'running' }, Tags: [] },
    ] }] });
    await run(['instances', 'list', '--json']);
    expect(JSON.parse(cli.out)).toEqual([expect.objectContaining({ id: 'i-00000000000000001', name: 'ww-0-b', market: 'spot', worker: 'w-00000001', state: 'running' })]);
    expect(ec2.commandCalls(DescribeInstancesCommand)[0]!.args[0].input.Filters).toContainEqual({ Name: 'tag:slipway:managed', Values: ['true'] });
  });

  it("terminate refuses the whole request when one instance is not Slipway's", async () => {
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [
      { InstanceId: 'i-00000000000000001', Tags: managed },
      { InstanceId: 'i-00000000000000002', Tags: [] },
    ] }] });
    await expect(run(['instances', 'terminate', 'i-00000000000000001', 'i-00000000000000002', '--yes'])).rejects.toThrow(/i-00000000000000002 is not Slipway's/);
    expect(ec2.commandCalls(TerminateInstancesCommand)).toHaveLength(0);
  });

  it('terminate ends tagged instances', async () => {
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-00000000000000001', Tags: managed }] }] });
    ec2.on(TerminateInstancesCommand).resolves({});
    await run(['instances', 'terminate', 'i-00000000000000001', '--yes']);
    expect(ec2.commandCalls(TerminateInstancesCommand)[0]!.args[0].input).toEqual({ InstanceIds: ['i-00000000000000001'] });
  });

  it('says plainly that local machines are not made by hand, without asking AWS', async () => {
    await expect(run(['instances', 'create', '--provider', 'local'])).rejects.toThrow(/local machines are not made by hand/);
    expect(ec2.calls()).toHaveLength(0);
  });
});

describe('slipway purge', () => {
  beforeEach(() => {
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-00000000000000001', State: { Name: 'running' }, Tags: managed }] }] });
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });
    ec2.on(DescribeSnapshotsCommand).resolves({ Snapshots: [] });
    ec2.on(DescribeVolumesCommand).resolves({ Volumes: [] });
    ec2.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [{ KeyPairId: 'key-1', KeyName: 'ci', Tags: managed }] });
    ec2.on(DescribeSecurityGroupsCommand).resolves({ SecurityGroups: [] });
  });

  const never: Confirmation = { interactive: () => false, ask: async () => { throw new Error('must not ask'); } };

  it('--dry-run lists and deletes nothing, naming what it does not handle', async () => {
    await run(['purge', '--dry-run'], never);
    expect(cli.out).toMatch(/^KIND\s+ID/);
    expect(cli.out).toMatch(/instance\s+i-00000000000000001/);
    expect(cli.out).toMatch(/key-pair\s+key-1\s+ci/);
    expect(cli.out).toContain("2 resource(s) of Slipway's in eu-west-1; not handled: IAM instance profiles and roles");
    expect(ec2.commandCalls(TerminateInstancesCommand)).toHaveLength(0);
    expect(ec2.commandCalls(DeleteKeyPairCommand)).toHaveLength(0);
  });

  it('refuses without --yes when stdin is not a terminal', async () => {
    await expect(run(['purge'], never)).rejects.toThrow(/refusing to delete 2 resource\(s\) without --yes/);
    expect(ec2.commandCalls(TerminateInstancesCommand)).toHaveLength(0);
  });

  it('asks on a terminal and deletes nothing on no', async () => {
    const asked: string[] = [];
    await run(['purge'], { interactive: () => true, ask: async (q) => { asked.push(q); return false; } });
    expect(asked).toEqual(['Delete these 2 resource(s)? [y/N] ']);
    expect(ec2.commandCalls(TerminateInstancesCommand)).toHaveLength(0);
  });

  it('--yes deletes and reports each result as JSON', async () => {
    ec2.on(TerminateInstancesCommand).resolves({});
    ec2.on(DescribeInstancesCommand, { InstanceIds: ['i-00000000000000001'] }).resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-00000000000000001', State: { Name: 'terminated' } }] }] });
    ec2.on(DeleteKeyPairCommand).rejects(awsError('UnauthorizedOperation'));
    const key = join(cli.dir, 'state', 'slipway', 'keys', 'ci.pem');
    mkdirSync(join(cli.dir, 'state', 'slipway', 'keys'), { recursive: true });
    writeFileSync(key, 'PRIVATE');
    await run(['purge', '--yes', '--json'], never);
    const report = JSON.parse(cli.out) as { results: { kind: string; id: string; error: string }[] };
    expect(report.results.map((r) => [r.kind, r.id, r.error.split(':')[0]])).toEqual([['instance', 'i-00000000000000001', ''], ['key-pair', 'key-1', 'UnauthorizedOperation']]);
    expect(process.exitCode).toBe(1);
    // The key pair was not deleted, so its private key stays.
    expect(statSync(key).isFile()).toBe(true);
  });

  it('--yes removes the private key file of a key pair it deleted', async () => {
    const key = join(cli.dir, 'state', 'slipway', 'keys', 'ci.pem');
    mkdirSync(join(cli.dir, 'state', 'slipway', 'keys'), { recursive: true });
    writeFileSync(key, 'PRIVATE');
    ec2.on(TerminateInstancesCommand).resolves({});
    ec2.on(DescribeInstancesCommand, { InstanceIds: ['i-00000000000000001'] }).resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-00000000000000001', State: { Name: 'terminated' } }] }] });
    ec2.on(DeleteKeyPairCommand).resolves({});
    await run(['purge', '--yes'], never);
    expect(cli.out).toMatch(/key-pair\s+key-1\s+ci\s+deleted/);
    expect(cli.out).toContain('2 deleted, 0 failed');
    expect(() => statSync(key)).toThrow();
    expect(process.exitCode).toBeUndefined();
  });
});

describe('slipway doctor', () => {
  it('prints a checklist and the policy for what is missing, exit 1', async () => {
    sts.on(GetCallerIdentityCommand).resolves({ Arn: 'arn:aws:iam::123456789012:user/ci', Account: '123456789012' });
    ec2.onAnyCommand({ DryRun: true }).rejects(awsError('DryRunOperation'));
    ec2.on(DescribeImagesCommand, { Owners: ['136693071363'] }).resolves({ Images: [{ ImageId: 'ami-00000000000000001' }] });
    ec2.on(CreateKeyPairCommand).rejects(awsError('UnauthorizedOperation'));
    await run(['doctor']);
    expect(cli.out).toMatch(/^✓ region\s+eu-west-1\n✓ credentials\s+arn:aws:iam::123456789012:user\/ci/);
    expect(cli.out).toMatch(/✗ ec2:CreateKeyPair\s+not allowed/);
    expect(cli.out).toMatch(/✓ ec2:RunInstances\s+allowed/);
    const policy = JSON.parse(cli.out.slice(cli.out.indexOf('{'))) as { Statement: { Action: string[] }[] };
    expect(policy.Statement[0]!.Action).toEqual(['ec2:CreateKeyPair']);
    expect(process.exitCode).toBe(1);
  });
});

describe('the slipway command without AWS credentials', () => {
  const sandbox = new Sandbox();
  afterAll(() => sandbox.cleanup());
  // No credentials anywhere the SDK looks, and no instance metadata to wait for.
  const noAws = {
    AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_SESSION_TOKEN: '', AWS_PROFILE: '',
    AWS_CONFIG_FILE: join(sandbox.dir.path, 'no-aws-config'), AWS_SHARED_CREDENTIALS_FILE: join(sandbox.dir.path, 'no-aws-credentials'),
    AWS_WEB_IDENTITY_TOKEN_FILE: '', AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '', AWS_CONTAINER_CREDENTIALS_FULL_URI: '', AWS_EC2_METADATA_DISABLED: 'true',
  };

  it.each([['keys', 'list'], ['instances', 'list'], ['purge', '--dry-run']])('%s %s says what it tried and how to fix it, exit 2, no stack trace', async (...args) => {
    mkdirSync(sandbox.state, { recursive: true });
    const result = await sandbox.run(args, noAws);
    expect(result.stderr).toMatch(/^no AWS credentials: tried the AWS SDK's default chain/);
    expect(result.stderr).toContain("Fix: run 'aws configure'");
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.code).toBe(2);
    // Its user, perhaps with no AWS at all, may have meant another provider: it says which it took.
    expect(result.stderr).toContain(`(slipway ${args[0] === 'purge' ? 'purge' : args.join(' ')} works on EC2 unless told otherwise: --provider ssh for your ssh hosts, --provider local for this machine)`);
    const named = await sandbox.run([...args, '--provider', 'ec2'], noAws);
    expect([named.code, named.stderr]).toEqual([2, expect.not.stringContaining('unless told otherwise')]);
  });

  it('doctor shows the failed check with the fix, exit 2', async () => {
    const result = await sandbox.run(['doctor'], noAws);
    expect(result.stdout).toMatch(/^✓ region\s+us-east-1\n✗ credentials\s+no AWS credentials/);
    expect(result.code).toBe(2);
  });
});
