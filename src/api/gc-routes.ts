import { Hono } from 'hono';
import { z } from 'zod';
import type { GarbageCollector } from '../coordinator/retention.ts';
import type { Db } from '../store/store.ts';
import type { TokenInfo } from '../store/tokens.ts';
import { fail, readJson } from './errors.ts';
import { requireScope, type UserAccess } from './user-routes.ts';

type Env = { Variables: { token: TokenInfo } };

export const gcBody = z.object({ dry_run: z.boolean().default(false) }).strict();

/** `slipway gc --server`: the server's own collection, on demand; admin only, since it deletes history. */
export function gcRoutes(db: Db, access: UserAccess, collector: GarbageCollector | undefined): Hono<Env> {
  const app = new Hono<Env>();
  const admin = requireScope(db, access)('admin');

  app.post('/gc', admin, async (c) => {
    if (!collector) return fail(c, 503, 'this coordinator does not collect expired runs and files');
    const body = await readJson(c, gcBody, 4096);
    if (!body.ok) return body.response;
    return c.json(await collector.collect(body.value.dry_run));
  });
  return app;
}
