/** Reading a small text file a user names, such as a pipeline or a config, within a bound. */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';

/** Why a file was not read, in words that follow `cannot read the … file: `. */
export class UnreadableFile extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'UnreadableFile';
  }
}

const CHUNK = 64 * 1024;

/**
 * The text of `path`, refused unless it is a regular file of at most `maxBytes`: reading a
 * FIFO would wait for a writer forever, a device may never end, and a huge file would fill
 * the memory. It is opened without waiting (a FIFO with no writer opens at once) and
 * checked by what was opened, so swapping the path for a FIFO after a check cannot hang it.
 */
export function readSmallFile(path: string, maxBytes: number): string {
  let fd: number;
  try {
    // O_NONBLOCK is not on Windows, which has no FIFOs to open by path either.
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UnreadableFile(code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (error as Error).message);
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new UnreadableFile(stats.isDirectory() ? 'it is a directory' : `it is ${kind(stats)}, not a regular file`);
    const tooLarge = new UnreadableFile(`it is larger than ${size(maxBytes)}`);
    if (stats.size > maxBytes) throw tooLarge;
    // The file may grow while it is read: read no more than one byte past the limit.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(CHUNK, maxBytes + 1 - total));
      const read = readSync(fd, chunk, 0, chunk.length, null);
      if (read === 0) break;
      chunks.push(chunk.subarray(0, read));
      total += read;
      if (total > maxBytes) throw tooLarge;
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

function kind(stats: Stats): string {
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  return 'a special file';
}

function size(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / 1024 / 1024} MiB` : `${bytes / 1024} KiB`;
}
