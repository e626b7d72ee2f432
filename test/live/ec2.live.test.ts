/**
 * Against a real AWS account, when credentials resolve (the SDK's default chain, or the
 * config's [providers.ec2] region and profile): the doctor's checks; a key pair created,
 * listed and deleted; the cheapest instance started bare and as a worker (tags, user data,
 * the coordinator's inventory), found by purge and terminated by it. Everything it made is
 * removed in afterAll, even when a test failed.
 */
import { randomBytes } from 'node:crypto';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { awsClients } from '../../src/providers/ec2/clients.ts';
import { Ec2Provider } from '../../src/providers/ec2/ec2-provider.ts';
import { explainAwsError } from '../../src/providers/ec2/errors.ts';
import { createBareInstance, listInstances } from '../../src/providers/ec2/instances.ts';
import { runDoctor } from '../../src/providers/ec2/doctor.ts';
import { createKeyPair, deleteKeyPair, listKeyPairs } from '../../src/providers/ec2/keys.ts';
import { findManaged, purge } from '../../src/providers/ec2/purge.ts';
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
  // Made in beforeAll: a skipped suite still runs this body, and would leave the directory behind.
  let keysDir: ReturnType<typeof tempDir>;
  beforeAll(() => {
    keysDir = tempDir('slipway-live-keys-');
  });
  const made = { keyName: '', instanceId: '' };
  const provider = new Ec2Provider({ settings, ec2: clients.ec2 });

  const workerInstance = { id: '' };

  afterAll(async () => {
    if (workerInstance.id) await provider.stop({ instanceId: workerInstance.id }).catch((e: unknown) => process.stderr.write(`could not terminate ${workerInstance.id}: ${String(e)}\n`));
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

  it('passes the doctor: credentials, region and every permission Slipway uses', async () => {
    const checks = await runDoctor(clients, settings);
    expect(checks.filter((c) => c.status !== 'ok')).toEqual([]);
  });

  it('starts a worker instance that only its own store reconciles, and purge finds and terminates it', async () => {
    const owner = `s-live${suffix}`;
    // An address nobody answers at: the instance's user data gives up and powers off, which terminates it.
    const machine = await provider.start({
      owner, workerId: `w-${suffix}`, runId: `r-${suffix}`, activity: 'live', serverUrl: 'http://192.0.2.1:7070',
      registrationToken: randomBytes(24).toString('base64url'), agentLogPath: '/unused',
    });
    workerInstance.id = String(machine.instanceId);
    expect((await provider.inventory(owner)).map((m) => m.machine.instanceId)).toContain(workerInstance.id);
    expect((await provider.inventory(`s-other${suffix}`)).map((m) => m.machine.instanceId)).not.toContain(workerInstance.id);
    const found = (await findManaged(clients.ec2)).filter((r) => r.id === workerInstance.id);
    expect(found).toEqual([expect.objectContaining({ kind: 'instance', id: workerInstance.id })]);
    const outcomes = await purge(clients.ec2, found);
    expect(outcomes.map((o) => o.error)).toEqual(['']);
    expect(await provider.status(machine)).toBe('gone');
    workerInstance.id = '';
  });
});
