import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { idPatterns, newId } from '../util/ids.ts';
import { saveBody } from '../util/save-body.ts';
import { attachment, BlobDamaged, blobOfFile, type AsDownload, type Blob, type BlobStore, type ReadTarget, type StoredBlob, type UploadTarget } from './blob-store.ts';

export interface S3Settings {
  bucket: string;
  /** Before each key: "" or names each ending in "/". */
  prefix: string;
  region?: string | undefined;
  /** An S3-compatible server's URL; AWS's when undefined. */
  endpoint?: string | undefined;
  force_path_style: boolean;
  profile?: string | undefined;
}

/**
 * How long a signed URL works: an upload may be large; an input is signed when its attempt
 * is claimed, before the agent fetches the source tree; a user's download just before it starts.
 */
export const uploadUrlSeconds = 3600;
export const inputUrlSeconds = 3600;
export const downloadUrlSeconds = 900;

/**
 * Blobs as objects of an S3 (or S3-compatible) bucket, each under `prefix + sha256`.
 * Agents upload and download through URLs the coordinator signs, so the bytes never pass
 * through it; an upload's URL signs its sha256 (x-amz-checksum-sha256), so S3 refuses
 * other bytes, and its size, so it cannot be larger than the agent said.
 */
export class S3Blobs implements BlobStore {
  readonly #settings: S3Settings;
  readonly #client: S3Client;
  /** Where a body sent through the coordinator (an agent that uploads the old way) waits to be hashed. */
  readonly #scratch: string;

  constructor(settings: S3Settings, scratch: string) {
    this.#settings = settings;
    this.#scratch = scratch;
    this.#client = new S3Client({
      ...(settings.region && { region: settings.region }),
      ...(settings.endpoint && { endpoint: settings.endpoint }),
      ...(settings.profile && { profile: settings.profile }),
      forcePathStyle: settings.force_path_style,
      // Only the checksums we ask for: S3-compatible servers do not all know the SDK's default CRC32 trailers.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  readonly signsUrls = true;

  get where(): string {
    return `s3://${this.#settings.bucket}/${this.#settings.prefix}`;
  }

  /** The object's key: refuses anything but a sha256, so no key leaves the prefix. */
  key(sha256: string): string {
    if (!idPatterns.digest.test(sha256)) throw new Error(`not a sha256: ${sha256.slice(0, 80)}`);
    return `${this.#settings.prefix}${sha256}`;
  }

  async put(body: ReadableStream<Uint8Array>, maxBytes: number, what: string): Promise<Blob> {
    mkdirSync(this.#scratch, { recursive: true, mode: 0o700 });
    const partial = join(this.#scratch, newId('a'));
    const hash = createHash('sha256');
    try {
      const size = await saveBody(body, partial, maxBytes, what, (chunk) => hash.update(chunk));
      const blob = { sha256: hash.digest('hex'), size };
      await this.#upload(partial, blob, what);
      return blob;
    } finally {
      rmSync(partial, { force: true });
    }
  }

  /** Uploads the file, then removes it. */
  async adopt(file: string, what: string): Promise<Blob> {
    const blob = await blobOfFile(file);
    await this.#upload(file, blob, what);
    rmSync(file, { force: true });
    return blob;
  }

  /** Sends the file's bytes unless the bucket has them already. */
  async #upload(file: string, blob: Blob, what: string): Promise<void> {
    if ((await this.size(blob.sha256)) === blob.size) return;
    await this.#call(`storing ${what}`, () => this.#client.send(new PutObjectCommand({
      ...this.#object(blob.sha256), Body: createReadStream(file), ContentLength: blob.size, ChecksumSHA256: base64(blob.sha256),
    })));
  }

  async size(sha256: string): Promise<number | undefined> {
    let head;
    try {
      head = await this.#client.send(new HeadObjectCommand({ ...this.#object(sha256), ChecksumMode: 'ENABLED' }));
    } catch (error) {
      if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return undefined;
      throw this.#failed(`looking for blob ${sha256}`, error);
    }
    // A store that keeps the checksum the upload was signed with says whether these are still those bytes.
    if (head.ChecksumSHA256 !== undefined && head.ChecksumSHA256 !== base64(sha256)) {
      throw new BlobDamaged(`${this.where}${sha256} holds other bytes than its name says (S3's sha256 is ${head.ChecksumSHA256})`);
    }
    return head.ContentLength;
  }

  async uploadTarget(blob: Blob): Promise<UploadTarget> {
    const checksum = base64(blob.sha256);
    const url = await getSignedUrl(this.#client, new PutObjectCommand({ ...this.#object(blob.sha256), ContentLength: blob.size, ChecksumSHA256: checksum }), {
      expiresIn: uploadUrlSeconds,
      // Signed as headers, not query parameters, so the agent must send them and S3 checks the body against them.
      unhoistableHeaders: new Set(['x-amz-checksum-sha256']),
      signableHeaders: new Set(['content-length']),
    });
    return { put: { url, headers: { 'content-length': String(blob.size), 'x-amz-checksum-sha256': checksum } } };
  }

  async readTarget(sha256: string, as?: AsDownload): Promise<ReadTarget> {
    const command = new GetObjectCommand({
      ...this.#object(sha256),
      // A user's download is an attachment, whatever it holds: the same as the coordinator's own answer says.
      ...(as && { ResponseContentDisposition: attachment(as.filename), ResponseContentType: as.contentType }),
    });
    return { url: await getSignedUrl(this.#client, command, { expiresIn: as ? downloadUrlSeconds : inputUrlSeconds }) };
  }

  async read(sha256: string): Promise<Readable> {
    const answer = await this.#call(`reading blob ${sha256}`, () => this.#client.send(new GetObjectCommand(this.#object(sha256))));
    return answer.Body as Readable;
  }

  /** The objects under the prefix named by a sha256 (anything else in the bucket is not ours), with when each was put. */
  async list(): Promise<StoredBlob[]> {
    const { bucket, prefix } = this.#settings;
    const found: StoredBlob[] = [];
    let token: string | undefined;
    do {
      const page = await this.#call('listing the blobs', () => this.#client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token })));
      for (const object of page.Contents ?? []) {
        const sha256 = object.Key?.slice(prefix.length) ?? '';
        if (idPatterns.digest.test(sha256)) found.push({ sha256, size: object.Size ?? 0, storedAt: object.LastModified?.getTime() ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return found;
  }

  async delete(sha256: string): Promise<void> {
    await this.#call(`deleting blob ${sha256}`, () => this.#client.send(new DeleteObjectCommand(this.#object(sha256))));
  }

  #object(sha256: string) {
    return { Bucket: this.#settings.bucket, Key: this.key(sha256) };
  }

  async #call<T>(doing: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw this.#failed(doing, error);
    }
  }

  #failed(doing: string, error: unknown): Error {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    return new Error(`${doing} in ${this.where}: ${(error as Error).name}${status ? ` (${status})` : ''}: ${(error as Error).message}`);
  }
}

function base64(sha256: string): string {
  return Buffer.from(sha256, 'hex').toString('base64');
}
