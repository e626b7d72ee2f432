import { createHash, randomBytes } from 'node:crypto';

/** Short random ids with a prefix that says what they name: r- runs, w- workers, a- attempts, t- tokens. */
export function newId(prefix: 'r' | 'w' | 'a' | 't'): string {
  return `${prefix}-${randomBytes(prefix === 'a' ? 6 : 4).toString('hex')}`;
}

/** A bearer secret; only its hash is ever stored. */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
