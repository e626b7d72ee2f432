import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyPairCommand, DeleteKeyPairCommand, DescribeKeyPairsCommand } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKeyPair, deleteKeyPair, listKeyPairs } from '../../../src/providers/ec2/keys.ts';
import { awsError, recordingBackoff, testClient } from './aws-fixtures.ts';

const client = testClient();
const ec2 = mockClient(client);
let keysDir: string;
beforeEach(() => {
  keysDir = mkdtempSync(join(tmpdir(), 'slipway-keys-'));
});
afterEach(() => {
  ec2.reset();
  rmSync(keysDir, { recursive: true, force: true });
});

const managed = [{ Key: 'slipway:managed', Value: 'true' }];

describe('key pairs', () => {
  it("create makes a tagged ed25519 key pair and saves its private key with mode 0600", async () => {
    ec2.on(CreateKeyPairCommand).resolves({ KeyName: 'ci', KeyPairId: 'key-0123', KeyFingerprint: 'fp', KeyMaterial: '-----BEGIN OPENSSH PRIVATE KEY-----\nx\n' });
    const key = await createKeyPair(client, keysDir, 'ci', 'ed25519', recordingBackoff());
    expect(ec2.commandCalls(CreateKeyPairCommand)[0]!.args[0].input).toEqual({
      KeyName: 'ci', KeyType: 'ed25519', KeyFormat: 'pem',
      TagSpecifications: [{ ResourceType: 'key-pair', Tags: [...managed, { Key: 'Name', Value: 'ci' }] }],
    });
    expect(key).toMatchObject({ name: 'ci', id: 'key-0123', fingerprint: 'fp', privateKey: join(keysDir, 'ci.pem') });
    expect(readFileSync(join(keysDir, 'ci.pem'), 'utf8')).toContain('PRIVATE KEY');
    expect(statSync(join(keysDir, 'ci.pem')).mode & 0o777).toBe(0o600);
  });

  it('create refuses a name that could be a path or option, and a key file that exists, before calling AWS', async () => {
    await expect(createKeyPair(client, keysDir, '../x', 'rsa')).rejects.toThrow(/key pair name/);
    await expect(createKeyPair(client, keysDir, '-x', 'rsa')).rejects.toThrow(/key pair name/);
    writeFileSync(join(keysDir, 'old.pem'), 'x');
    await expect(createKeyPair(client, keysDir, 'old', 'rsa')).rejects.toThrow(/already exists/);
    expect(ec2.calls()).toHaveLength(0);
  });

  it('list shows only tagged key pairs, and whether this machine holds the private key', async () => {
    writeFileSync(join(keysDir, 'ci.pem'), 'x');
    ec2.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [
      { KeyName: 'ci', KeyPairId: 'key-1', KeyType: 'ed25519', KeyFingerprint: 'f1', CreateTime: new Date('2026-01-01T00:00:00Z'), Tags: managed },
      { KeyName: 'other', KeyPairId: 'key-2', KeyType: 'rsa', Tags: managed },
      { KeyName: 'someone-elses', KeyPairId: 'key-3', KeyType: 'rsa', Tags: [] },
    ] });
    const keys = await listKeyPairs(client, keysDir, recordingBackoff());
    expect(ec2.commandCalls(DescribeKeyPairsCommand)[0]!.args[0].input).toEqual({ Filters: [{ Name: 'tag:slipway:managed', Values: ['true'] }] });
    expect(keys).toEqual([
      { name: 'ci', id: 'key-1', type: 'ed25519', fingerprint: 'f1', created: '2026-01-01T00:00:00.000Z', privateKey: join(keysDir, 'ci.pem') },
      { name: 'other', id: 'key-2', type: 'rsa', fingerprint: '', created: '', privateKey: null },
    ]);
  });

  it("delete removes a tagged key pair by id and its private key file", async () => {
    writeFileSync(join(keysDir, 'ci.pem'), 'x');
    ec2.on(DescribeKeyPairsCommand).resolves({ KeyPairs: [{ KeyName: 'ci', KeyPairId: 'key-1', Tags: managed }] });
    ec2.on(DeleteKeyPairCommand).resolves({});
    await deleteKeyPair(client, keysDir, 'ci', recordingBackoff());
    expect(ec2.commandCalls(DescribeKeyPairsCommand)[0]!.args[0].input).toEqual({ KeyNames: ['ci'] });
    expect(ec2.commandCalls(DeleteKeyPairCommand)[0]!.args[0].input).toEqual({ KeyPairId: 'key-1' });
    expect(() => statSync(join(keysDir, 'ci.pem'))).toThrow();
  });

  it("delete refuses a key pair that is not Slipway's, and says when there is none", async () => {
    ec2.on(DescribeKeyPairsCommand, { KeyNames: ['theirs'] }).resolves({ KeyPairs: [{ KeyName: 'theirs', KeyPairId: 'key-9', Tags: [] }] });
    ec2.on(DescribeKeyPairsCommand, { KeyNames: ['nope'] }).rejects(awsError('InvalidKeyPair.NotFound'));
    await expect(deleteKeyPair(client, keysDir, 'theirs', recordingBackoff())).rejects.toThrow(/not Slipway's/);
    await expect(deleteKeyPair(client, keysDir, 'nope', recordingBackoff())).rejects.toThrow(/no key pair nope/);
    expect(ec2.commandCalls(DeleteKeyPairCommand)).toHaveLength(0);
  });
});
