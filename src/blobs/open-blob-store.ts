import { join } from 'node:path';
import { systemClock, type Clock } from '../engine/clock.ts';
import { isPostgres } from '../store/postgres-dialect.ts';
import type { Db } from '../store/store.ts';
import type { BlobStore } from './blob-store.ts';
import { DatabaseBlobs } from './database-blobs.ts';
import { FileBlobs } from './file-blobs.ts';
import { S3Blobs, type S3Settings } from './s3-blobs.ts';

/** The [blobs] table of the config. */
export type BlobsSettings = { store?: 'files' | 's3' | 'database' | undefined } & Partial<Omit<S3Settings, 'bucket'>> & { bucket?: string | undefined };

/**
 * The blob store [blobs] chooses for the store `db`. By default, on PostgreSQL its database,
 * so that every coordinator on it serves every blob; on SQLite, which serves one machine,
 * files under the state directory.
 */
export function openBlobStore(settings: BlobsSettings | undefined, stateDir: string, db: Db, clock: Clock = systemClock): BlobStore {
  const root = join(stateDir, 'blobs');
  const kind = settings?.store ?? (isPostgres(db) ? 'database' : 'files');
  if (kind === 'database') return new DatabaseBlobs(db, root, clock);
  if (kind === 'files') return new FileBlobs(root);
  if (!settings?.bucket) throw new Error('[blobs] store = "s3" needs a bucket');
  return new S3Blobs({ ...settings, bucket: settings.bucket, prefix: settings.prefix ?? '', force_path_style: settings.force_path_style ?? false }, join(root, 'incoming'));
}
