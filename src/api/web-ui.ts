import { existsSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';

/** Where `npm run build:web` puts the web UI. */
export const webRoot = fileURLToPath(new URL('../../dist/web/', import.meta.url));

const types: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

/**
 * What the UI's pages may load and do: only this server's own scripts, styles and API
 * (React sets styles through the DOM, which a policy does not restrict), the inline icon,
 * and no framing, plugins or foreign form targets; a log line that smuggled markup in could
 * run nothing.
 */
export const contentSecurityPolicy = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "font-src 'self'",
  "connect-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

const securityHeaders: Record<string, string> = {
  'content-security-policy': contentSecurityPolicy,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
};

/**
 * The web UI: its built assets, and its page for every client route. It holds no secret:
 * the page asks the API with the token the user brings.
 */
export function webUi(root = webRoot): Hono {
  const app = new Hono();
  app.use(async (c, next) => {
    await next();
    for (const [name, value] of Object.entries(securityHeaders)) c.res.headers.set(name, value);
  });
  const page = (): Response => {
    const index = join(root, 'index.html');
    if (!existsSync(index)) {
      return new Response('The web UI is not built here: run `npm run build:web` (./slipway server does it on start).\n', {
        status: 503, headers: { 'content-type': 'text/plain; charset=utf-8' },
      });
    }
    return new Response(readFileSync(index), { headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' } });
  };
  app.get('/', page);
  app.get('/workers', page);
  app.get('/runs/:run', page);
  app.get('/assets/:file', (c) => {
    const file = c.req.param('file');
    // Built asset names only: no path can leave the assets folder.
    if (!/^[A-Za-z0-9._-]+$/.test(file) || file.startsWith('.')) return c.notFound();
    const path = join(root, 'assets', file);
    if (!existsSync(path)) return c.notFound();
    return c.body(readFileSync(path), 200, {
      'content-type': types[extname(file)] ?? 'application/octet-stream',
      'cache-control': 'public, max-age=31536000, immutable',
    });
  });
  return app;
}
