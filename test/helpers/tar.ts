import { gzipSync } from 'node:zlib';

export type TarEntry =
  | { type: 'file'; name: string; data?: string; mode?: number }
  | { type: 'dir'; name: string }
  | { type: 'symlink' | 'hardlink'; name: string; target: string }
  | { type: 'fifo' | 'chardev'; name: string };

const typeFlags = { file: '0', hardlink: '1', symlink: '2', chardev: '3', dir: '5', fifo: '6' } as const;

/**
 * A .tar.gz built byte by byte (ustar), so a test can write members no well-behaved tar
 * would: `../evil`, absolute names, links out of the tree, devices.
 */
export function tarGz(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const data = Buffer.from(entry.type === 'file' ? entry.data ?? '' : '');
    const header = Buffer.alloc(512);
    const put = (offset: number, length: number, value: string) => {
      const bytes = Buffer.from(value);
      if (bytes.length > length) throw new Error(`${value} does not fit a ${length}-byte tar field`);
      bytes.copy(header, offset);
    };
    const octal = (offset: number, length: number, value: number) => put(offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
    put(0, 100, entry.name);
    octal(100, 8, entry.type === 'dir' ? 0o755 : entry.type === 'file' ? entry.mode ?? 0o644 : 0o777);
    octal(108, 8, 0);
    octal(116, 8, 0);
    octal(124, 12, data.length);
    octal(136, 12, 0);
    put(156, 1, typeFlags[entry.type]);
    if (entry.type === 'symlink' || entry.type === 'hardlink') put(157, 100, entry.target);
    put(257, 6, 'ustar\0');
    put(263, 2, '00');
    header.fill(0x20, 148, 156);
    let sum = 0;
    for (const byte of header) sum += byte;
    put(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
    blocks.push(header, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}
