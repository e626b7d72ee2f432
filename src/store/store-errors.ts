/** Why the store cannot take a write: a condition of the machine, never of the request. */
export type StoreTrouble = 'locked' | 'read-only' | 'full' | 'io' | 'cannot-open';

/**
 * The store cannot be opened or written. Its message names the store and what to do,
 * and is meant for the operator as it stands; the SQLite error stays as `cause`.
 */
export class StoreUnavailable extends Error {
  override readonly name = 'StoreUnavailable';
  readonly path: string;
  readonly trouble: StoreTrouble;

  constructor(path: string, trouble: StoreTrouble, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.path = path;
    this.trouble = trouble;
    // Its stack would point into the SQLite driver and tell an operator nothing; fault
    // reports and logs print `stack`, so they print this one line instead.
    this.stack = message;
  }

  /** When a client should try again: another process's lock is short, a full disk is not. */
  get retryAfterSeconds(): number {
    return this.trouble === 'locked' ? 5 : 30;
  }
}

export interface StoreFile {
  path: string;
  busyTimeoutMs: number;
}

// SQLite's primary result codes; node:sqlite reports extended ones, whose low byte is the primary.
const BUSY = 5;
const LOCKED = 6;
const READONLY = 8;
const IOERR = 10;
const FULL = 13;
const CANTOPEN = 14;
const BUSY_SNAPSHOT = 517;
const READONLY_DBMOVED = 1032;
const READONLY_DIRECTORY = 1544;

/**
 * The StoreUnavailable that a node:sqlite error means, or undefined for any other error
 * (a constraint, a syntax error: those are bugs or the operation's own, and stay as they are).
 */
export function storeUnavailable(error: unknown, file: StoreFile): StoreUnavailable | undefined {
  if (error instanceof StoreUnavailable) return error;
  if (!(error instanceof Error) || (error as { code?: unknown }).code !== 'ERR_SQLITE_ERROR') return undefined;
  const errcode = (error as { errcode?: unknown }).errcode;
  if (typeof errcode !== 'number') return undefined;
  const written = (trouble: StoreTrouble, why: string) =>
    new StoreUnavailable(file.path, trouble, `the store ${file.path} cannot be written: ${why}`, { cause: error });
  switch (errcode & 0xff) {
    case BUSY:
    case LOCKED:
      // A snapshot conflict is answered at once; only a held lock is waited for.
      return written('locked', errcode === BUSY_SNAPSHOT
        ? 'another process changed it meanwhile (is another slipway server using it?)'
        : `it is locked by another process (busy for ${seconds(file.busyTimeoutMs)}; is another slipway server, or an sqlite3 shell, using it?)`);
    case READONLY:
      if (errcode === READONLY_DBMOVED) return written('read-only', 'the file was moved or deleted while open (restart the coordinator)');
      if (errcode === READONLY_DIRECTORY) return written('read-only', `its directory is read-only (SQLite keeps its -wal and -shm files beside it: check the directory's permissions)`);
      return written('read-only', 'it is read-only (check the permissions of the file, its -wal and -shm files and its directory)');
    case FULL:
      return written('full', 'the disk is full (free some space)');
    case IOERR:
      return written('io', `the disk reported an I/O error (${(error as { errstr?: unknown }).errstr ?? error.message}, SQLite code ${errcode}; check the disk and the filesystem)`);
    case CANTOPEN:
      return new StoreUnavailable(file.path, 'cannot-open', `the store ${file.path} cannot be opened: ${error.message} (check that its directory exists and that you can write to it)`, { cause: error });
    default:
      return undefined;
  }
}

/** Runs one call into SQLite and turns its failure into StoreUnavailable where that is what it means. */
export function guarded<T>(file: StoreFile, call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw storeUnavailable(error, file) ?? error;
  }
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))}s`;
}

/**
 * PostgreSQL refuses text holding a NUL character (SQLite keeps it): a value from a
 * request, such as an id with %00, is then the request's fault, not the store's.
 */
export function isUnstorableText(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === '22021' || code === '22P05';
}
