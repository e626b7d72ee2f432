import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';

/** A source archive that holds something that must not be unpacked. */
export class UnsafeArchive extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeArchive';
  }
}

/**
 * Reads every member of a .tar.gz and refuses the archive before anything is unpacked if a
 * member could land outside the directory it is unpacked in, or is not plain source:
 * absolute names, `..`, a member unpacked through a link, a hard link to anything but an
 * earlier file, devices, FIFOs and other special files. Links themselves may point
 * anywhere: they are kept as links, and whoever reads the tree resolves them inside it
 * (util/inside.ts). GNU tar has its own guards; this makes the rule ours, the same with
 * any tar, and says which member broke it.
 */
export async function checkArchive(file: string): Promise<void> {
  const reader = new MemberReader();
  await pipeline(createReadStream(file), createGunzip(), async (chunks: AsyncIterable<Buffer>) => {
    // Read to the end even past the end-of-archive block: stopping early aborts the pipeline.
    for await (const chunk of chunks) reader.push(chunk);
  });
}

const BLOCK = 512;
/** Long names and pax headers are small; a huge one is an attack on our memory. */
const MAX_META_BYTES = 1024 * 1024;

const kinds: Record<string, string> = {
  '3': 'character device', '4': 'block device', '6': 'FIFO', 'S': 'sparse file', 'D': 'directory dump', 'V': 'volume label',
  'M': 'multi-volume continuation', 'N': 'old long name',
};

/** A tar stream parser that sees headers only: file data is skipped, never kept. */
class MemberReader {
  readonly #members = new Members();
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #skip = 0;
  #meta: { type: string; size: number } | undefined;
  #next: { path?: string; linkpath?: string; size?: number } = {};

  #ended = false;

  /** Bytes after the end-of-archive block are ignored, as tar ignores them. */
  push(chunk: Buffer): void {
    let data = chunk;
    while (data.length > 0 && !this.#ended) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, data.length);
        this.#skip -= n;
        data = data.subarray(n);
        continue;
      }
      const need = this.#meta ? padded(this.#meta.size) : BLOCK;
      const take = Math.min(need - this.#pendingBytes, data.length);
      this.#pending.push(data.subarray(0, take));
      this.#pendingBytes += take;
      data = data.subarray(take);
      if (this.#pendingBytes < need) return;
      const whole = Buffer.concat(this.#pending);
      this.#pending = [];
      this.#pendingBytes = 0;
      if (this.#meta) {
        this.#readMeta(this.#meta.type, whole.subarray(0, this.#meta.size));
        this.#meta = undefined;
      } else {
        this.#ended = !this.#readHeader(whole);
      }
    }
  }

  #readHeader(block: Buffer): boolean {
    if (block.every((byte) => byte === 0)) return false;
    if (!checksumMatches(block)) throw new UnsafeArchive('it is not a tar archive (a header checksum is wrong)');
    const type = block[156] === 0 ? '0' : String.fromCharCode(block[156]!);
    const size = this.#next.size ?? number(block.subarray(124, 136));
    if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
      if (size > MAX_META_BYTES) throw new UnsafeArchive(`a ${type} header of ${size} bytes is too large`);
      this.#meta = { type, size };
      return true;
    }
    const name = this.#next.path ?? headerName(block);
    const link = this.#next.linkpath ?? text(block.subarray(157, 257));
    this.#next = {};
    this.#skip = padded(size);
    if (type === '0' || type === '7') this.#members.file(name);
    else if (type === '5') this.#members.directory(name);
    else if (type === '2') this.#members.symlink(name);
    else if (type === '1') this.#members.hardLink(name, link);
    else throw new UnsafeArchive(`member ${show(name)} is a ${kinds[type] ?? `member of type '${type}'`}; a source archive holds files, directories and links`);
    return true;
  }

  #readMeta(type: string, body: Buffer): void {
    if (type === 'L') this.#next.path = text(body);
    else if (type === 'K') this.#next.linkpath = text(body);
    else {
      const records = paxRecords(body);
      // A global header would rename every later member behind their own headers' backs.
      if (type === 'g' && ('path' in records || 'linkpath' in records)) throw new UnsafeArchive('a global pax header sets a name');
      if (type === 'x') {
        if (records.path !== undefined) this.#next.path = records.path;
        if (records.linkpath !== undefined) this.#next.linkpath = records.linkpath;
        if (records.size !== undefined) {
          if (!/^[0-9]{1,15}$/.test(records.size)) throw new UnsafeArchive('a pax header has a bad size');
          this.#next.size = Number(records.size);
        }
      }
    }
  }
}

/** What the archive has put where so far, to catch later members that misuse it. */
class Members {
  /** Case-folded, as a case-insensitive disk would see them. */
  readonly #links = new Set<string>();
  readonly #files = new Set<string>();

  file(name: string): void {
    this.#files.add(this.#place(name).join('/'));
  }

  directory(name: string): void {
    this.#place(name, { root: true });
  }

  symlink(name: string): void {
    this.#links.add(fold(this.#place(name)));
  }

  hardLink(name: string, target: string): void {
    const to = parts(target, 'hard link target');
    if (!this.#files.has(to.join('/'))) {
      throw new UnsafeArchive(`hard link ${show(name)} points to ${show(target)}, which is not an earlier file of the archive`);
    }
    this.file(name);
  }

  /** The member's path, checked not to go through or replace a link. */
  #place(name: string, options: { root?: boolean } = {}): string[] {
    const path = parts(name, 'member');
    if (path.length === 0 && !options.root) throw new UnsafeArchive(`member ${show(name)} has no file name`);
    for (let i = 1; i <= path.length; i++) {
      const prefix = path.slice(0, i);
      if (this.#links.has(fold(prefix))) {
        const through = i < path.length ? 'would be unpacked through' : 'would replace';
        throw new UnsafeArchive(`member ${show(name)} ${through} the link ${show(prefix.join('/'))}`);
      }
    }
    return path;
  }
}

/** The name's components, refusing names that could lead out of the directory. */
function parts(name: string, what: string): string[] {
  if (name === '' || name.includes('\0')) throw new UnsafeArchive(`a ${what} has an empty or broken name`);
  if (name.startsWith('/')) throw new UnsafeArchive(`${what} ${show(name)} is an absolute path`);
  const path = name.split('/').filter((part) => part !== '' && part !== '.');
  if (path.includes('..')) throw new UnsafeArchive(`${what} ${show(name)} leads outside the tree ('..')`);
  return path;
}

function fold(path: string[]): string {
  return path.join('/').normalize('NFC').toLowerCase();
}

function headerName(block: Buffer): string {
  const name = text(block.subarray(0, 100));
  // POSIX ustar splits long names into a prefix; GNU's own format uses those bytes otherwise.
  const posix = block.subarray(257, 263).toString('latin1') === 'ustar\0';
  const prefix = posix ? text(block.subarray(345, 500)) : '';
  return prefix === '' ? name : `${prefix}/${name}`;
}

function text(field: Buffer): string {
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? field.length : end).toString('utf8');
}

/** A numeric header field: octal text, or base-256 when its first byte has the high bit. */
function number(field: Buffer): number {
  if (field[0]! & 0x80) {
    let value = BigInt(field[0]! & 0x7f);
    for (const byte of field.subarray(1)) value = (value << 8n) | BigInt(byte);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new UnsafeArchive('a member is impossibly large');
    return Number(value);
  }
  const digits = field.toString('latin1').replace(/[\0 ]+$/, '').trim();
  if (!/^[0-7]*$/.test(digits)) throw new UnsafeArchive('it is not a tar archive (a size is not a number)');
  return digits === '' ? 0 : parseInt(digits, 8);
}

function checksumMatches(block: Buffer): boolean {
  const stored = number(block.subarray(148, 156));
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

/** `length key=value\n` records of a pax header. */
function paxRecords(body: Buffer): Record<string, string> {
  const records: Record<string, string> = Object.create(null) as Record<string, string>;
  let at = 0;
  while (at < body.length && body[at] !== 0) {
    const space = body.indexOf(0x20, at);
    const length = space < 0 ? NaN : Number(body.subarray(at, space).toString('latin1'));
    if (!Number.isInteger(length) || length <= space - at || at + length > body.length) {
      throw new UnsafeArchive('a pax header is malformed');
    }
    const record = body.subarray(space + 1, at + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    if (equals < 0) throw new UnsafeArchive('a pax header is malformed');
    records[record.slice(0, equals)] = record.slice(equals + 1);
    at += length;
  }
  return records;
}

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

function show(name: string): string {
  return JSON.stringify(name.length > 200 ? `${name.slice(0, 200)}…` : name);
}
