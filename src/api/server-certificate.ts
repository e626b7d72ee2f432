import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { bitString, der, explicit, objectId, octetString, sequence, set, time, unsignedInteger, utf8String } from '../util/der.ts';

/** What `slipway server` serves HTTPS with. */
export interface ServerTls {
  /** PEM: the certificate, then any chain that goes with it. */
  certificate: string;
  key: string;
  /** `sha256//BASE64` of the certificate's public key: what curl and wget --pinnedpubkey take. */
  pin: string;
  /** SHA-256 of the certificate (AB:CD:…), as browsers and `openssl x509 -fingerprint` show it. */
  fingerprint: string;
  /** Made by the server itself: workers trust this certificate and nothing else. */
  generated: boolean;
}

const renewWithinMs = 30 * 24 * 3600_000;
const validForMs = 5 * 365 * 24 * 3600_000;

/** A certificate and key the user configured ([server] certificate and key). */
export function configuredTls(certificatePath: string, keyPath: string): ServerTls {
  const certificate = readPem(certificatePath, 'certificate');
  const key = readPem(keyPath, 'key');
  const leaf = leafOf(certificate, certificatePath);
  if (!leaf.checkPrivateKey(createPrivateKey(key))) throw new Error(`${keyPath} is not the key of the certificate in ${certificatePath}`);
  return { certificate, key, ...identity(leaf), generated: false };
}

/**
 * The server's own certificate, under tls/ in the state directory: made on first use, made
 * again (with the same key, so the pin holds) when it does not name every host in `names`
 * or expires within 30 days. The key file is readable by its owner only.
 */
export function generatedTls(stateDir: string, names: string[], now = new Date()): ServerTls {
  const dir = join(stateDir, 'tls');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const certificatePath = join(dir, 'server.crt');
  const keyPath = join(dir, 'server.key');
  let key: KeyObject;
  if (existsSync(keyPath)) {
    key = createPrivateKey(readFileSync(keyPath));
  } else {
    key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    writeFileSync(keyPath, key.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  const existing = existsSync(certificatePath) ? new X509Certificate(readFileSync(certificatePath)) : undefined;
  const current = existing && existing.checkPrivateKey(key) && Date.parse(existing.validTo) - now.getTime() > renewWithinMs
    && names.every((name) => (isIP(name) ? existing.checkIP(name) : existing.checkHost(name)) !== undefined);
  if (!current) writeFileSync(certificatePath, selfSigned(key, names, now), { mode: 0o644 });
  const certificate = readFileSync(certificatePath, 'utf8');
  return { certificate, key: readFileSync(keyPath, 'utf8'), ...identity(new X509Certificate(certificate)), generated: true };
}

/** `sha256//BASE64` of a certificate's public key (its DER SubjectPublicKeyInfo). */
export function publicKeyPin(certificate: X509Certificate): string {
  const spki = certificate.publicKey.export({ type: 'spki', format: 'der' });
  return `sha256//${createHash('sha256').update(spki).digest('base64')}`;
}

function identity(leaf: X509Certificate): { pin: string; fingerprint: string } {
  return { pin: publicKeyPin(leaf), fingerprint: leaf.fingerprint256 };
}

/** An ECDSA P-256 certificate signed by its own key, naming `names` (host names and addresses). */
function selfSigned(key: KeyObject, names: string[], now: Date): string {
  const ecdsaWithSha256 = sequence(objectId('1.2.840.10045.4.3.2'));
  const name = sequence(set(sequence(objectId('2.5.4.3'), utf8String('slipway server'))));
  const altNames = sequence(...names.map((entry) => (isIP(entry) ? der(0x87, ipBytes(entry)) : der(0x82, Buffer.from(entry, 'ascii')))));
  const extensions = sequence(
    sequence(objectId('2.5.29.17'), octetString(altNames)),
    sequence(objectId('2.5.29.37'), octetString(sequence(objectId('1.3.6.1.5.5.7.3.1')))),
  );
  const tbs = sequence(
    explicit(0, unsignedInteger(Buffer.from([2]))),
    unsignedInteger(randomBytes(16)),
    ecdsaWithSha256,
    name,
    sequence(time(new Date(now.getTime() - 3600_000)), time(new Date(now.getTime() + validForMs))),
    name,
    createPublicKey(key).export({ type: 'spki', format: 'der' }),
    explicit(3, extensions),
  );
  const signature = sign('sha256', tbs, { key, dsaEncoding: 'der' });
  const body = sequence(tbs, ecdsaWithSha256, bitString(signature)).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${body.replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
}

function ipBytes(address: string): Buffer {
  if (isIP(address) === 4) return Buffer.from(address.split('.').map(Number));
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const groups = (part: string | undefined) => (part ? part.split(':') : []);
  const missing = 8 - groups(head).length - groups(tail).length;
  const all = [...groups(head), ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...groups(tail)];
  return Buffer.from(all.flatMap((group) => { const value = parseInt(group, 16); return [value >> 8, value & 0xff]; }));
}

function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read the TLS ${what} ${path}: ${(error as Error).message}`);
  }
}

function leafOf(certificate: string, path: string): X509Certificate {
  try {
    return new X509Certificate(certificate);
  } catch (error) {
    throw new Error(`${path} holds no PEM certificate: ${(error as Error).message}`);
  }
}
