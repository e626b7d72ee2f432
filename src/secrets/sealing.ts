import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, openSync, readFileSync, writeSync, closeSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateDir } from '../config/paths.ts';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The key the secrets of a state directory are sealed with: in `secrets.key` beside the store, never in it. */
export function secretsKeyPath(stateDir: string): string {
  return join(stateDir, 'secrets.key');
}

/** The state directory's key; created (mode 0600) on first use when `create`. */
export function secretsKey(stateDir: string, create: boolean): Buffer {
  const path = secretsKeyPath(stateDir);
  if (!existsSync(path)) {
    if (!create) throw new Error(`no secrets key at ${path}: no secret was ever set in this state directory`);
    ensurePrivateDir(stateDir);
    try {
      // 'wx': two processes setting their first secret at once must not each write a key.
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, randomBytes(KEY_BYTES).toString('base64'));
      } finally {
        closeSync(fd);
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  const mode = statSync(path).mode & 0o777;
  // A key others can read is a leak already: tighten it rather than go on using it silently open.
  if (mode & 0o077) chmodSync(path, 0o600);
  const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
  if (key.length !== KEY_BYTES) throw new Error(`the secrets key ${path} is damaged: expected ${KEY_BYTES} bytes in base64`);
  return key;
}

/** AES-256-GCM: iv, tag and ciphertext, in base64. The secret's name is bound in, so a sealed value cannot be moved to another name. */
export function seal(key: Buffer, name: string, value: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(name));
  const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
}

export function unseal(key: Buffer, name: string, sealed: string): string {
  const bytes = Buffer.from(sealed, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(name));
  decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    throw new Error(`the secret ${name} cannot be decrypted: it was sealed with another key than this state directory's`);
  }
}
