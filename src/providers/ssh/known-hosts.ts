import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** A host's key is not the one pinned for it: the host was rebuilt, or someone is in between. */
export class HostKeyChanged extends Error {}

/**
 * Host keys pinned on first use, in Slipway's own file in OpenSSH's format
 * (`[address]:port ssh-ed25519 AAAA…`), so `ssh-keygen -R` and a reader of known_hosts
 * both understand it. ~/.ssh/known_hosts is never read or written: Slipway's trust in
 * its hosts is its own, and a user's interactive ssh is not changed by it.
 */
export class PinnedHostKeys {
  readonly #path: string;

  constructor(path: string) {
    this.#path = path;
  }

  /** Accepts the key pinned for this host, or pins the key of a host seen for the first time; throws HostKeyChanged otherwise. */
  check(address: string, port: number, key: Buffer): void {
    const name = `[${address}]:${port}`;
    const offered = `${keyType(key)} ${key.toString('base64')}`;
    const pinned = this.#lines().filter((line) => line.split(' ')[0] === name).map((line) => line.split(' ').slice(1, 3).join(' '));
    if (pinned.includes(offered)) return;
    if (pinned.length > 0) {
      throw new HostKeyChanged(
        `the host key of ${name} changed: ${this.#path} pins ${pinned.map(fingerprint).join(', ')}, the host offered ${fingerprint(offered)}; `
        + `if the host was rebuilt, remove its line (ssh-keygen -R '${name}' -f ${this.#path}) and it is pinned again on the next connection`,
      );
    }
    mkdirSync(dirname(this.#path), { recursive: true, mode: 0o700 });
    appendFileSync(this.#path, `${name} ${offered}\n`, { mode: 0o600 });
  }

  #lines(): string[] {
    if (!existsSync(this.#path)) return [];
    return readFileSync(this.#path, 'utf8').split('\n').filter((line) => line !== '' && !line.startsWith('#'));
  }
}

/** The key type named at the start of an SSH public key blob. */
function keyType(blob: Buffer): string {
  const length = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + length).toString('latin1');
}

/** `ssh-ed25519 SHA256:…`, as ssh-keygen -l shows a key. */
function fingerprint(typeAndKey: string): string {
  const [type, base64] = typeAndKey.split(' ') as [string, string];
  const digest = createHash('sha256').update(Buffer.from(base64, 'base64')).digest('base64').replace(/=+$/, '');
  return `${type} SHA256:${digest}`;
}
