import { join } from 'node:path';
import type { BlobStore } from './blob-store.ts';
import { FileBlobs } from './file-blobs.ts';
import { S3Blobs, type S3Settings } from './s3-blobs.ts';

/** The [blobs] table of the config. */
export type BlobsSettings = { store: 'files' | 's3' } & Partial<Omit<S3Settings, 'bucket'>> & { bucket?: string | undefined };

/** The blob store [blobs] chooses: files under the state directory by default. */
export function openBlobStore(settings: BlobsSettings | undefined, stateDir: string): BlobStore {
  const root = join(stateDir, 'blobs');
  if (settings?.store !== 's3') return new FileBlobs(root);
  if (!settings.bucket) throw new Error('[blobs] store = "s3" needs a bucket');
  return new S3Blobs({ ...settings, bucket: settings.bucket, prefix: settings.prefix ?? '', force_path_style: settings.force_path_style ?? false }, join(root, 'incoming'));
}
