import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { SshHost } from './connections.ts';

/** A key that cannot be made, found or removed as asked: the user's to fix. */
export class SshKeyRefusal extends Error {}

const namePattern = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/** A key Slipway logs in to ssh hosts with: `keys/ssh_NAME` and its `.pub` in the state directory. */
export interface SshKey {
  name: string;
  type: string;
  /** As `ssh-keygen -l` prints it: SHA256 of the public key, base64. */
  fingerprint: string;
  privateKey: string;
  /** The line for a host's ~/.ssh/authorized_keys. */
  publicKey: string;
  /** Hosts in the config that log in with it. */
  usedBy: string[];
}

/** Where key NAME lives: `ssh_ed25519` is what [[providers.ssh.hosts]] use by default. */
export function sshKeyPath(keysDir: string, name: string): string {
  if (!namePattern.test(name)) throw new SshKeyRefusal(`a key name is letters, digits, . _ -, not ${JSON.stringify(name.slice(0, 40))}`);
  return join(keysDir, `ssh_${name}`);
}

export function createSshKey(keysDir: string, name: string, hosts: readonly SshHost[]): SshKey {
  const path = sshKeyPath(keysDir, name);
  if (existsSync(path)) throw new SshKeyRefusal(`${path} exists already: delete it first (slipway keys delete --provider ssh ${name}), or pick another name`);
  const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: `slipway-${name}` });
  writeFileSync(path, pair.private, { mode: 0o600, flag: 'wx' });
  writeFileSync(`${path}.pub`, `${pair.public}\n`, { mode: 0o644 });
  return describe(name, path, hosts);
}

export function listSshKeys(keysDir: string, hosts: readonly SshHost[]): SshKey[] {
  if (!existsSync(keysDir)) return [];
  return readdirSync(keysDir)
    .filter((file) => file.startsWith('ssh_') && !file.endsWith('.pub') && namePattern.test(file.slice(4)))
    .sort()
    .flatMap((file) => {
      try {
        return [describe(file.slice(4), join(keysDir, file), hosts)];
      } catch {
        return []; // not a key ssh2 can read: not one of ours
      }
    });
}

/** Removes the key and its .pub; the hosts that used it are the caller's to tell. */
export function deleteSshKey(keysDir: string, name: string): void {
  const path = sshKeyPath(keysDir, name);
  if (!existsSync(path)) throw new SshKeyRefusal(`no ssh key ${name} (${path}): slipway keys list --provider ssh shows them`);
  rmSync(path);
  rmSync(`${path}.pub`, { force: true });
}

function describe(name: string, path: string, hosts: readonly SshHost[]): SshKey {
  const parsed = ssh2.utils.parseKey(readFileSync(path));
  if (parsed instanceof Error) throw parsed;
  const key = Array.isArray(parsed) ? parsed[0]! : parsed;
  const blob = key.getPublicSSH();
  return {
    name,
    type: key.type,
    fingerprint: `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`,
    privateKey: path,
    publicKey: `${key.type} ${blob.toString('base64')} ${key.comment || `slipway-${name}`}`,
    usedBy: hosts.filter((host) => host.key === path).map((host) => host.name),
  };
}
