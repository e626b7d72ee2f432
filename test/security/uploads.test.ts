import { readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { userLimits } from '../../src/api/user-routes.ts';
import { Sandbox } from '../helpers/cli.ts';
import { startServer } from '../helpers/server-process.ts';
import { tarGz } from '../helpers/tar.ts';

/** A chunked upload whose client goes away after `bytes` of its body. */
function abandonedUpload(url: string, token: string, bytes: number): Promise<void> {
  return new Promise((resolve) => {
    const upload = request(`${url}/api/v1/sources`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/gzip' } });
    upload.on('error', () => resolve());
    upload.on('close', () => resolve());
    upload.write(Buffer.alloc(bytes, 7), () => setImmediate(() => upload.destroy()));
  });
}

/** A chunked upload that sends more than `limit` bytes unless the server answers first; its answer. */
function overfilledUpload(url: string, token: string, limit: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const upload = request(`${url}/api/v1/sources`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/gzip' } });
    let answered = false;
    upload.on('response', (response) => {
      answered = true;
      let body = '';
      response.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      response.on('end', () => resolve({ status: response.statusCode!, body }));
    });
    // The server may close the connection once it has answered, while this side still writes.
    upload.on('error', (error) => { if (!answered) reject(error); });
    const chunk = Buffer.alloc(1024 * 1024, 7);
    let sent = 0;
    const more = (): void => {
      while (!answered && sent <= limit) {
        sent += chunk.byteLength;
        if (!upload.write(chunk)) return void upload.once('drain', more);
      }
      if (!answered) upload.end();
    };
    more();
  });
}

describe('source uploads a client breaks off or overfills', () => {
  const box = new Sandbox();
  afterAll(() => box.cleanup());

  it('leave the server answering, with no partial file kept', async () => {
    const { server, url, admin } = await startServer(box);
    const headers = { authorization: `Bearer ${admin}` };
    try {
      for (let i = 0; i < 20; i++) await abandonedUpload(url, admin, 64 * 1024 * (1 + (i % 4)));

      // Over the limit, streamed without a content-length to refuse up front.
      const over = await overfilledUpload(url, admin, userLimits.sourceBytes);
      expect(over).toEqual({ status: 413, body: JSON.stringify({ error: 'the source archive is over 256 MiB' }) });

      const runs = await fetch(`${url}/api/v1/runs`, { headers });
      expect(runs.status).toBe(200);
      const small = await fetch(`${url}/api/v1/sources`, { method: 'POST', body: tarGz([{ type: 'file', name: 'a.txt', data: 'a' }]), headers });
      expect(small.status).toBe(201);
      expect(server.exitCode).toBeNull();
      const archives = readdirSync(join(box.state, 'slipway'), { recursive: true }).map(String);
      expect(archives.filter((name) => name.endsWith('.partial'))).toEqual([]);
    } finally {
      server.kill('SIGTERM');
      const ended = await server.result;
      // Clients that went away are not the coordinator's faults: nothing to report.
      expect(ended.stderr).toBe('');
    }
  });
});
