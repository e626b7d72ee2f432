/**
 * Against a real AWS account, when credentials resolve (the SDK's default chain, or the
 * config's [providers.ec2] region and profile): creates, lists and deletes a key pair, and
 * starts and terminates the cheapest instance, each tagged as Slipway's. Everything it made
 * is removed in afterAll, even when a test failed.
 */
import { randomBytes } from 'node:crypto';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { awsClients } from '../../src/providers/ec2/clients.ts';
import { Ec2Provider } from '../../src/providers/ec2/ec2-provider.ts';
import { explainAwsError } from '../../src/providers/ec2/errors.ts';
import { createBareInstance, listInstances } from '../../src/providers/ec2/instances.ts';
import { createKeyPair, deleteKeyPair, listKeyPairs } from '../../src/providers/ec2/keys.ts';
import { tempDir } from '../helpers/temp.ts';

const configured = loadConfig().providers.ec2;
const settings = { ...configured, spot: false, key_name: undefined, instance_types: ['t3.nano', 't3a.nano', 't2.nano'] };
const target = { region: settings.region, profile: settings.profile };
const clients = awsClients(target);

const identity = await clients.sts.send(new GetCallerIdentityCommand({})).then(
  (answer) => ({ arn: answer.Arn ?? '?', why: '' }),
  (error: unknown) => ({ arn: '', why: (explainAwsError(error, target) as Error).message }),
);
if (identity.why) process.stderr.write(`\nSkipping the EC2 live tests: ${identity.why}\n\n`);
else process.stderr.write(`\nEC2 live tests as ${identity.arn} in ${await clients.ec2.config.region()}: they start a ${settings.instance_types[0]} instance for a minute or two.\n\n`);

describe.skipIf(identity.why !== '')('EC2, live', () => {
  const suffix = randomBytes(4).toString('hex');
  const keysDir = tempDir('slipway-live-keys-');
  const made = { keyName: '', instanceId: '' };
  const provider = new Ec2Provider({ settings, ec2: clients.ec2 });

  afterAll(async () => {
    if (made.instanceId) await provider.stop({ instanceId: made.instanceId }).catch((e: unknown) => process.stderr.write(`could not terminate ${made.instanceId}: ${String(e)}\n`));
    if (made.keyName) await deleteKeyPair(clients.ec2, keysDir.path, made.keyName).catch(() => undefined);
    keysDir.remove();
  });

  it('creates, lists and deletes a key pair', async () => {
    const name = `slipway-live-${suffix}`;
    const key = await createKeyPair(clients.ec2, keysDir.path, name, 'ed25519');
    made.keyName = name;
    expect(key.privateKey).toMatch(/\.pem$/);
    expect((await listKeyPairs(clients.ec2, keysDir.path)).map((k) => k.name)).toContain(name);
    await deleteKeyPair(clients.ec2, keysDir.path, name);
    made.keyName = '';
    expect((await listKeyPairs(clients.ec2, keysDir.path)).map((k) => k.name)).not.toContain(name);
  });

  it('starts the cheapest instance with Slipway\'s tags and terminates it', async () => {
    const name = `slipway-live-${suffix}`;
    const launched = await createBareInstance(clients.ec2, settings, { name });
    made.instanceId = launched.instanceId;
    expect(await provider.status({ instanceId: launched.instanceId })).toBe('running');
    const listed = (await listInstances(clients.ec2)).find((i) => i.id === launched.instanceId);
    expect(listed).toMatchObject({ name, type: launched.instanceType, market: 'on-demand' });
    await provider.rename({ instanceId: launched.instanceId }, `${name}-renamed`);
    expect((await listInstances(clients.ec2)).find((i) => i.id === launched.instanceId)?.name).toBe(`${name}-renamed`);
    await provider.stop({ instanceId: launched.instanceId });
    expect(await provider.status({ instanceId: launched.instanceId })).toBe('gone');
    made.instanceId = '';
  });
});
