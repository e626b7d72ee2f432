import { createHash, randomBytes, randomFillSync } from 'node:crypto';

/**
 * Random bytes drawn ahead for ids: one call for the system's randomness costs about as
 * much for 6 bytes as for 4 KiB (30 µs here), and every claim makes an attempt id. Ids are
 * names, not secrets (those are newSecret's).
 */
const pool = Buffer.alloc(4096);
let used = pool.length;

function randomHex(bytes: number): string {
  if (used + bytes > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  used += bytes;
  return pool.toString('hex', used - bytes, used);
}

/** Short random ids with a prefix that says what they name: r- runs, w- workers, a- attempts, t- tokens. */
export function newId(prefix: 'r' | 'w' | 'a' | 't' | 'c'): string {
  return `${prefix}-${randomHex(prefix === 'a' ? 6 : 4)}`;
}

/**
 * The exact shapes of the ids newId makes. Ids become parts of file names (logs), so an
 * id from outside is matched against its shape before it comes near a path.
 */
export const idPatterns = {
  run: /^r-[0-9a-f]{8}$/,
  worker: /^w-[0-9a-f]{8}$/,
  attempt: /^a-[0-9a-f]{12}$/,
  /** A source archive's sha256. */
  digest: /^[0-9a-f]{64}$/,
} as const;

/** `id` itself when it has the shape of a `kind` id; throws otherwise. */
export function checkedId(kind: keyof typeof idPatterns, id: string): string {
  if (!idPatterns[kind].test(id)) throw new Error(`not a valid ${kind} id: ${JSON.stringify(id.slice(0, 80))}`);
  return id;
}

/** A bearer secret; only its hash is ever stored. */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
