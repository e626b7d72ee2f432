/**
 * Just enough DER (ASN.1's distinguished encoding) to write an X.509 certificate: tag,
 * length, contents. Node reads certificates (X509Certificate) but cannot make one.
 */
export function der(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export const sequence = (...contents: Buffer[]): Buffer => der(0x30, ...contents);
export const set = (...contents: Buffer[]): Buffer => der(0x31, ...contents);
export const octetString = (contents: Buffer): Buffer => der(0x04, contents);
/** A bit string of whole bytes (no unused bits). */
export const bitString = (contents: Buffer): Buffer => der(0x03, Buffer.from([0]), contents);
export const utf8String = (text: string): Buffer => der(0x0c, Buffer.from(text, 'utf8'));
/** `[n] EXPLICIT`: a context-specific constructed tag around one value. */
export const explicit = (n: number, value: Buffer): Buffer => der(0xa0 | n, value);

/** A non-negative integer given as big-endian bytes. */
export function unsignedInteger(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start += 1;
  const trimmed = bytes.subarray(start);
  return der(0x02, trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

export function objectId(dotted: string): Buffer {
  const [first, second, ...rest] = dotted.split('.').map(Number);
  const bytes = [first! * 40 + second!];
  for (const arc of rest) {
    const groups = [arc & 0x7f];
    for (let value = Math.floor(arc / 128); value > 0; value = Math.floor(value / 128)) groups.unshift(0x80 | (value & 0x7f));
    bytes.push(...groups);
  }
  return der(0x06, Buffer.from(bytes));
}

/** UTCTime up to 2049, GeneralizedTime from 2050, as RFC 5280 requires. */
export function time(date: Date): Buffer {
  const text = date.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
  return date.getUTCFullYear() < 2050 ? der(0x17, Buffer.from(text.slice(2), 'ascii')) : der(0x18, Buffer.from(text, 'ascii'));
}
