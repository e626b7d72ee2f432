import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
// @ts-expect-error s3rver ships no types: a loopback S3-compatible server for tests and the benchmark.
import S3rver from 's3rver';
import { tempDir } from './temp.ts';

/** The credentials s3rver checks signatures with. */
export const s3Credentials = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };

export interface S3Server {
  endpoint: string;
  bucket: string;
  /** Keys of the objects put (PUT or POST) since the server started, in order. */
  puts: string[];
  /** The `[blobs]` table that points Slipway at this bucket. */
  configToml(prefix?: string): string;
  close(): Promise<void>;
}

/** s3rver on 127.0.0.1 (a port of its own), its objects in a temporary directory, with one bucket. */
export async function startS3Server(bucket = 'artifacts'): Promise<S3Server> {
  const dir = tempDir('slipway-s3-');
  const server = new S3rver({
    address: '127.0.0.1', port: 0, silent: true, directory: dir.path, configureBuckets: [{ name: bucket, configs: [] }],
  }) as EventEmitter & { run(): Promise<AddressInfo>; close(): Promise<void> };
  const puts: string[] = [];
  server.on('event', (event: { Records: { eventName: string; s3: { object: { key: string } } }[] }) => {
    for (const record of event.Records) if (record.eventName.startsWith('ObjectCreated:')) puts.push(record.s3.object.key);
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint, bucket, puts,
    configToml: (prefix = '') => `[blobs]\nstore = "s3"\nbucket = "${bucket}"\nprefix = "${prefix}"\nregion = "us-east-1"\nendpoint = "${endpoint}"\nforce_path_style = true\n`,
    close: async () => {
      await server.close();
      dir.remove();
    },
  };
}
