import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateKeyPairCommand, DeleteKeyPairCommand, DescribeKeyPairsCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { errorCode } from './aws-errors.ts';
import { withBackoff, type BackoffOptions } from './backoff.ts';
import { Ec2Refusal } from './errors.ts';
import { isManaged, managedFilter, managedTag } from './tags.ts';

/** What the config's key_name accepts, so a created key can be named there. */
const keyNamePattern = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

export type KeyType = 'ed25519' | 'rsa';

export interface KeyPairInfo {
  name: string;
  id: string;
  type: string;
  fingerprint: string;
  created: string;
  /** The private key file under the state directory, when this machine holds it. */
  privateKey: string | null;
}

function keyFile(keysDir: string, name: string): string {
  return join(keysDir, `${checkedKeyName(name)}.pem`);
}

function checkedKeyName(name: string): string {
  if (!keyNamePattern.test(name)) throw new Ec2Refusal(`a key pair name is up to 128 letters, digits, '.', '_' and '-', not starting with '.' or '-': not ${JSON.stringify(name)}`);
  return name;
}

/**
 * Creates an EC2 key pair tagged as Slipway's and saves its private key (shown by AWS only
 * once) to `<keysDir>/<name>.pem`, readable by its owner only.
 */
export async function createKeyPair(ec2: EC2Client, keysDir: string, name: string, type: KeyType, backoff?: BackoffOptions): Promise<KeyPairInfo> {
  const path = keyFile(keysDir, name);
  if (existsSync(path)) throw new Ec2Refusal(`${path} already exists; delete the key pair first (slipway keys delete ${name})`);
  const created = await withBackoff(() => ec2.send(new CreateKeyPairCommand({
    KeyName: name,
    KeyType: type,
    KeyFormat: 'pem',
    TagSpecifications: [{ ResourceType: 'key-pair', Tags: [{ ...managedTag }, { Key: 'Name', Value: name }] }],
  })), backoff);
  try {
    writeFileSync(path, created.KeyMaterial ?? '', { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // A key pair whose private key nobody holds is useless: take it back.
    await ec2.send(new DeleteKeyPairCommand({ KeyPairId: created.KeyPairId })).catch(() => undefined);
    throw error;
  }
  return { name, id: created.KeyPairId ?? '', type, fingerprint: created.KeyFingerprint ?? '', created: new Date().toISOString(), privateKey: path };
}

/** Slipway's key pairs in the region. */
export async function listKeyPairs(ec2: EC2Client, keysDir: string, backoff?: BackoffOptions): Promise<KeyPairInfo[]> {
  const found = await withBackoff(() => ec2.send(new DescribeKeyPairsCommand({ Filters: [managedFilter] })), backoff);
  return (found.KeyPairs ?? []).filter((key) => isManaged(key.Tags) && key.KeyName).map((key) => {
    const path = keyNamePattern.test(key.KeyName!) ? keyFile(keysDir, key.KeyName!) : '';
    return {
      name: key.KeyName!,
      id: key.KeyPairId ?? '',
      type: key.KeyType ?? '',
      fingerprint: key.KeyFingerprint ?? '',
      created: key.CreateTime?.toISOString() ?? '',
      privateKey: path && existsSync(path) ? path : null,
    };
  });
}

/** Deletes one of Slipway's key pairs (never another's) and its private key file. */
export async function deleteKeyPair(ec2: EC2Client, keysDir: string, name: string, backoff?: BackoffOptions): Promise<void> {
  const path = keyFile(keysDir, name);
  let found;
  try {
    found = await withBackoff(() => ec2.send(new DescribeKeyPairsCommand({ KeyNames: [name] })), backoff);
  } catch (error) {
    if (errorCode(error) === 'InvalidKeyPair.NotFound') throw new Ec2Refusal(`no key pair ${name} in this region`);
    throw error;
  }
  const key = found.KeyPairs?.[0];
  if (!key?.KeyPairId) throw new Ec2Refusal(`no key pair ${name} in this region`);
  if (!isManaged(key.Tags)) throw new Ec2Refusal(`key pair ${name} is not Slipway's (it has no ${managedTag.Key}=${managedTag.Value} tag); delete it in the AWS console if you mean to`);
  await withBackoff(() => ec2.send(new DeleteKeyPairCommand({ KeyPairId: key.KeyPairId })), backoff);
  rmSync(path, { force: true });
}

/** Removes the private key file of a key pair deleted some other way (purge); a name that cannot be a file is left alone. */
export function forgetPrivateKey(keysDir: string, name: string): void {
  if (keyNamePattern.test(name)) rmSync(join(keysDir, `${name}.pem`), { force: true });
}
