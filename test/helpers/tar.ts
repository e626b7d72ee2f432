import { gzipSync } from 'node:zlib';

/**
 * `size` is the size a member's header declares when it is not that of the data written
 * (none but a file's): tar may read the next member's header where a careless reader
 * skips "data".
 */
export type TarEntry =
  | { type: 'file'; name: string; data?: string | Buffer; mode?: number; size?: number }
  | { type: 'dir'; name: string; size?: number }
  | { type: 'symlink' | 'hardlink'; name: string; target: string; size?: number }
  | { type: 'fifo' | 'chardev'; name: string }
  | { type: 'pax'; records: Record<string, string>; global?: boolean };

const typeFlags = { file: '0', hardlink: '1', symlink: '2', chardev: '3', dir: '5', fifo: '6' } as const;

/**
 * A .tar.gz built byte by byte (ustar), so a test can write members no well-behaved tar
 * would: `../evil`, absolute names, links out of the tree, devices, sizes that lie.
 */
export function tarGz(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    if (entry.type === 'pax') {
      const body = Buffer.from(Object.entries(entry.records).map(([key, value]) => paxRecord(key, value)).join(''));
      blocks.push(header({ name: 'PaxHeader', flag: entry.global ? 'g' : 'x', mode: 0o644, size: body.length }), ...padded(body));
      continue;
    }
    const data = Buffer.from(entry.type === 'file' ? entry.data ?? '' : '');
    const size = 'size' in entry && entry.size !== undefined ? entry.size : data.length;
    const mode = entry.type === 'dir' ? 0o755 : entry.type === 'file' ? entry.mode ?? 0o644 : 0o777;
    const link = entry.type === 'symlink' || entry.type === 'hardlink' ? entry.target : '';
    blocks.push(header({ name: entry.name, flag: typeFlags[entry.type], mode, size, link }), ...padded(data));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

function header(fields: { name: string; flag: string; mode: number; size: number; link?: string }): Buffer {
  const block = Buffer.alloc(512);
  const put = (offset: number, length: number, value: string) => {
    const bytes = Buffer.from(value);
    if (bytes.length > length) throw new Error(`${value} does not fit a ${length}-byte tar field`);
    bytes.copy(block, offset);
  };
  const octal = (offset: number, length: number, value: number) => put(offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
  put(0, 100, fields.name);
  octal(100, 8, fields.mode);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, fields.size);
  octal(136, 12, 0);
  put(156, 1, fields.flag);
  put(157, 100, fields.link ?? '');
  put(257, 6, 'ustar\0');
  put(263, 2, '00');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  put(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return block;
}

function padded(data: Buffer): Buffer[] {
  return [data, Buffer.alloc((512 - (data.length % 512)) % 512)];
}

/** `length key=value\n`, where the length counts its own digits. */
function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(rest);
  while (String(length).length + Buffer.byteLength(rest) !== length) length = String(length).length + Buffer.byteLength(rest);
  return `${length}${rest}`;
}
