import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';

export interface Listening {
  url: string;
  close(): Promise<void>;
}

/** Serves the app on host:port (port 0 picks a free one), over HTTPS with `tls`, and says where. */
export function listen(app: Hono, host: string, port: number, tls?: { certificate: string; key: string }): Promise<Listening> {
  return new Promise((resolve, reject) => {
    const secure = tls && { createServer: createHttpsServer, serverOptions: { cert: tls.certificate, key: tls.key } };
    const server = serve({ fetch: app.fetch, hostname: host, port, ...secure }) as Server;
    server.once('error', reject);
    server.once('listening', () => {
      const address = server.address() as AddressInfo;
      const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      resolve({
        url: `${tls ? 'https' : 'http'}://${shown}:${address.port}`,
        close: () => new Promise((done) => {
          server.close(() => done());
          server.closeAllConnections();
        }),
      });
    });
  });
}
