import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';

/** A source archive that holds something that must not be unpacked. */
export class UnsafeArchive extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeArchive';
  }
}

/** How much one source archive may unpack to: `[server]` keys of the coordinator's config. */
export interface ArchiveLimits {
  /** Bytes of file data, as the members' headers declare them. */
  maxUnpackedBytes: number;
  /** Files, directories and links. */
  maxMembers: number;
}

export const defaultArchiveLimits: ArchiveLimits = { maxUnpackedBytes: 4 * 1024 ** 3, maxMembers: 200_000 };

/** A source archive that would unpack to more than a limit allows. */
export class ArchiveTooLarge extends UnsafeArchive {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveTooLarge';
  }
}

/**
 * Reads every member of a .tar.gz and refuses the archive before anything is unpacked if a
 * member could land outside the directory it is unpacked in, or is not plain source:
 * absolute names, `..`, a member unpacked through a link, a hard link to anything but an
 * earlier file, devices, FIFOs and other special files. Links themselves may point
 * anywhere: they are kept as links, and whoever reads the tree resolves them inside it
 * (util/inside.ts). GNU tar has its own guards; this makes the rule ours, the same with
 * any tar, and says which member broke it. The walk reads the stream as GNU tar unpacks
 * it, header type by header type, or a member hidden where the check saw data would reach
 * the disk unchecked. The limits are checked from the headers, before any data is read.
 */
export async function checkArchive(file: string, limits: ArchiveLimits = defaultArchiveLimits): Promise<void> {
  const reader = new MemberReader(limits);
  // Errors reach the loop through the gunzip stream; leaving the loop early ends the pipeline.
  const tarStream = pipeline(createReadStream(file), createGunzip(), () => undefined);
  try {
    for await (const chunk of tarStream) {
      // Bytes after the end-of-archive block are ignored, as tar ignores them.
      if (!reader.push(chunk as Buffer)) return;
    }
  } catch (error) {
    if (typeof (error as NodeJS.ErrnoException).code === 'string' && (error as NodeJS.ErrnoException).code!.startsWith('Z_')) {
      throw new UnsafeArchive(`it is not a .tar.gz (${(error as Error).message})`);
    }
    throw error;
  }
  reader.finish();
}

const BLOCK = 512;
/** Long names and pax headers are small; a huge one is an attack on our memory. */
const MAX_META_BYTES = 1024 * 1024;

/** Headers that describe the next member: their data is read, as tar reads it. */
const metaTypes = new Set(['x', 'g', 'L', 'K']);

const kinds: Record<string, string> = {
  '3': 'character device', '4': 'block device', '6': 'FIFO', 'S': 'sparse file', 'D': 'directory dump', 'V': 'volume label',
  'M': 'multi-volume continuation', 'N': 'old long name', 'X': 'Solaris extended header',
};

/**
 * What GNU tar unpacks a header of `type` as. Only a file's data is read: after any other
 * member tar reads the next bytes as the next header, whatever size the header declares.
 * A regular member whose name ends in '/' is unpacked as a directory, as BSD tar wrote them.
 */
function unpackedAs(type: string, name: string): 'file' | 'directory' | 'symbolic link' | 'hard link' | undefined {
  if (type === '0' || type === '7') return name.endsWith('/') ? 'directory' : 'file';
  if (type === '5') return 'directory';
  if (type === '2') return 'symbolic link';
  if (type === '1') return 'hard link';
  return undefined;
}

/** A tar stream parser that sees headers only: file data is skipped, never kept. */
class MemberReader {
  readonly #members = new Members();
  readonly #limits: ArchiveLimits;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #skip = 0;
  #meta: { type: string; size: number } | undefined;
  /** GNU long name and link name for the next member; tar keeps the latest of each. */
  #long: { path?: string; linkpath?: string } = {};
  /** The next member's pax records: a later 'x' header replaces them whole, as in tar. */
  #pax: Record<string, string> = {};
  #count = 0;
  #bytes = 0;
  #ended = false;

  constructor(limits: ArchiveLimits) {
    this.#limits = limits;
  }

  /** Reads on; false once the end-of-archive block has been read. */
  push(chunk: Buffer): boolean {
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
      if (this.#pendingBytes < need) break;
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
    return !this.#ended;
  }

  /** A stream that ends inside a member would leave tar writing half of it. */
  finish(): void {
    if (this.#skip > 0 || this.#pendingBytes > 0 || this.#meta) throw new UnsafeArchive('it ends in the middle of a member');
  }

  /** False for the end-of-archive block: GNU tar stops at the first block of zeros. */
  #readHeader(block: Buffer): boolean {
    if (block.every((byte) => byte === 0)) return false;
    if (!checksumMatches(block)) throw new UnsafeArchive('it is not a tar archive (a header checksum is wrong)');
    const type = block[156] === 0 ? '0' : String.fromCharCode(block[156]!);
    if (metaTypes.has(type)) {
      // A meta header's own size counts, never the pax size meant for the next member.
      const size = number(block.subarray(124, 136));
      if (size > MAX_META_BYTES) throw new UnsafeArchive(`a ${type} header of ${size} bytes is too large`);
      this.#meta = { type, size };
    } else {
      this.#readMember(block, type);
    }
    return true;
  }

  #readMember(block: Buffer, type: string): void {
    const pax = this.#pax;
    const name = pax.path ?? this.#long.path ?? headerName(block);
    const link = pax.linkpath ?? this.#long.linkpath ?? text(block.subarray(157, 257));
    // GNU tar takes a hard link's size field as 0; a pax size counts for every type.
    const size = pax.size !== undefined ? paxSize(pax.size) : type === '1' ? 0 : number(block.subarray(124, 136));
    this.#pax = {};
    this.#long = {};
    if (++this.#count > this.#limits.maxMembers) {
      throw new ArchiveTooLarge(`the source archive has more than ${this.#limits.maxMembers} members, the limit [server] max_archive_members sets`);
    }
    const kind = unpackedAs(type, name);
    if (kind === undefined) {
      throw new UnsafeArchive(`member ${show(name)} is a ${kinds[type] ?? `member of type '${type}'`}; a source archive holds files, directories and links`);
    }
    if (kind !== 'file' && size > 0) {
      throw new UnsafeArchive(`member ${show(name)} is a ${kind} that declares ${size} bytes of data; GNU tar reads no data for a ${kind} and would take those bytes for further members`);
    }
    if (kind === 'file') {
      this.#bytes += size;
      if (this.#bytes > this.#limits.maxUnpackedBytes) {
        throw new ArchiveTooLarge(`the source archive would unpack to more than ${this.#limits.maxUnpackedBytes} bytes, the limit [server] max_unpacked_bytes sets`);
      }
      this.#skip = padded(size);
      this.#members.file(name);
    } else if (kind === 'directory') this.#members.directory(name);
    else if (kind === 'symbolic link') this.#members.symlink(name);
    else this.#members.hardLink(name, link);
  }

  #readMeta(type: string, body: Buffer): void {
    if (type === 'L') this.#long.path = text(body);
    else if (type === 'K') this.#long.linkpath = text(body);
    else {
      const records = paxRecords(body);
      // GNU sparse files rename themselves and unpack to more than their data.
      if (Object.keys(records).some((key) => key.startsWith('GNU.sparse.'))) throw new UnsafeArchive('a pax header describes a sparse file; a source archive holds plain files');
      if (type === 'x') this.#pax = records;
      else {
        // tar applies a global header to every later member, behind their own headers' backs.
        const set = ['path', 'linkpath', 'size'].find((key) => key in records);
        if (set !== undefined) throw new UnsafeArchive(`a global pax header sets ${set} for every later member`);
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

/**
 * `length key=value\n` records of a pax header, read strictly: a record GNU tar would stop
 * at must not be one the check reads, or tar would unpack under a name nobody checked.
 */
function paxRecords(body: Buffer): Record<string, string> {
  const records: Record<string, string> = Object.create(null) as Record<string, string>;
  let at = 0;
  while (at < body.length && body[at] !== 0) {
    const space = body.indexOf(0x20, at);
    const digits = space < 0 ? '' : body.subarray(at, space).toString('latin1');
    const length = Number(digits);
    if (!/^[0-9]{1,7}$/.test(digits) || length <= space - at + 1 || at + length > body.length || body[at + length - 1] !== 0x0a) {
      throw new UnsafeArchive('a pax header is malformed');
    }
    const record = body.subarray(space + 1, at + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    // tar skips blanks before a keyword: ' path' would be its path and not ours.
    if (equals < 0 || /^[ \t]/.test(record)) throw new UnsafeArchive('a pax header is malformed');
    records[record.slice(0, equals)] = record.slice(equals + 1);
    at += length;
  }
  return records;
}

function paxSize(value: string): number {
  if (!/^[0-9]{1,15}$/.test(value)) throw new UnsafeArchive('a pax header has a bad size');
  return Number(value);
}

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

function show(name: string): string {
  return JSON.stringify(name.length > 200 ? `${name.slice(0, 200)}…` : name);
}
