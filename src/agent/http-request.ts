import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export interface HttpAnswer {
  status: number;
  body: string;
}

/**
 * One HTTP request over a kept-alive connection. The agent makes one or two of these per
 * task; node:http costs a fraction of fetch's CPU, which on a small machine is shared
 * with the coordinator and the tasks.
 */
export class HttpConnection {
  readonly #base: URL;
  readonly #agent: HttpAgent;

  constructor(base: string) {
    this.#base = new URL(base);
    this.#agent = this.#base.protocol === 'https:' ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  }

  send(method: string, path: string, headers: Record<string, string>, body?: string, signal?: AbortSignal): Promise<HttpAnswer> {
    const send = this.#base.protocol === 'https:' ? httpsRequest : httpRequest;
    const url = new URL(path, this.#base);
    return new Promise((resolve, reject) => {
      const req = send(url, { method, agent: this.#agent, headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) }, signal }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
