import { X509Certificate } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import type { PeerCertificate } from 'node:tls';

export interface HttpAnswer {
  status: number;
  body: string;
}

/** Error codes of a TLS handshake whose certificate did not check out. */
const certificateCodes = /CERT|SELF_SIGNED|UNABLE_TO_|ERR_TLS_|ERR_SSL_|SLIPWAY_PINNED/;

/**
 * HTTP requests over a kept-alive connection. The agent makes one or two of these per
 * task; node:http costs a fraction of fetch's CPU, which on a small machine is shared
 * with the coordinator and the tasks. Given the coordinator's certificate, an https
 * connection trusts that certificate and nothing else (not the system's CAs), whatever
 * name it was reached by: a pin, so nobody in between can read the tokens it carries.
 */
export class HttpConnection {
  readonly #base: URL;
  readonly #agent: HttpAgent;
  readonly #pinned?: string;

  constructor(base: string, certificate?: string) {
    this.#base = new URL(base);
    if (this.#base.protocol !== 'https:') {
      this.#agent = new HttpAgent({ keepAlive: true });
      return;
    }
    this.#pinned = certificate && new X509Certificate(certificate).fingerprint256;
    this.#agent = new HttpsAgent({ keepAlive: true, ...(certificate && this.#pinning(certificate)) });
  }

  async send(method: string, path: string, headers: Record<string, string>, body?: string, signal?: AbortSignal): Promise<HttpAnswer> {
    const sized = body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) };
    const res = await this.open(method, path, sized, body, signal);
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    return { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') };
  }

  /** A request whose answer is read as it comes; `body` may be a stream (an upload). */
  open(method: string, path: string, headers: Record<string, string>, body?: string | Readable, signal?: AbortSignal): Promise<IncomingMessage> {
    const send = this.#base.protocol === 'https:' ? httpsRequest : httpRequest;
    const url = new URL(path, this.#base);
    return new Promise((resolve, reject) => {
      const req = send(url, { method, agent: this.#agent, headers, signal }, resolve);
      req.on('error', (error: NodeJS.ErrnoException) => reject(this.#explained(error)));
      if (body === undefined || typeof body === 'string') req.end(body);
      else body.on('error', (error) => req.destroy(error)).pipe(req);
    });
  }

  close(): void {
    this.#agent.destroy();
  }

  /**
   * The certificate is the only trust anchor, a partial chain so a configured certificate
   * signed by a CA is anchored on itself, and its fingerprint is compared in place of the
   * host name, which a local agent's 127.0.0.1 would not match.
   */
  #pinning(certificate: string): object {
    return {
      ca: certificate,
      allowPartialTrustChain: true,
      checkServerIdentity: (_host: string, peer: PeerCertificate) => {
        if (peer.fingerprint256 === this.#pinned) return undefined;
        return Object.assign(new Error(`its certificate's SHA-256 is ${peer.fingerprint256}`), { code: 'SLIPWAY_PINNED_CERTIFICATE' });
      },
    };
  }

  #explained(error: NodeJS.ErrnoException): Error {
    if (!certificateCodes.test(error.code ?? '')) return error;
    const expected = this.#pinned ? `the certificate this worker was given (SHA-256 ${this.#pinned})` : 'a certificate this machine trusts';
    return new Error(`the server at ${this.#base.origin} did not present ${expected}: ${error.message}; something between this machine and the coordinator may be posing as it, so the agent sends it nothing`, { cause: error });
  }
}
