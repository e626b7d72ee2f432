import { Hono } from 'hono';
import { z } from 'zod';
import { secretNameProblem, secretValueProblem } from '../secrets/rules.ts';
import { seal, secretsKey } from '../secrets/sealing.ts';
import { deleteSecret, listSecrets, putSecret } from '../store/secrets.ts';
import type { Db } from '../store/store.ts';
import type { TokenInfo } from '../store/tokens.ts';
import { fail, readJson } from './errors.ts';
import { requireScope, type UserAccess } from './user-routes.ts';

type Env = { Variables: { token: TokenInfo } };

/** A secret's value travels in a JSON body, never in a URL a proxy or access log keeps. */
export const secretBody = z.object({ value: z.string().max(64 * 1024, 'at most 65536 characters') }).strict();

/** A secret's value and its JSON around it. */
const secretBodyBytes = 256 * 1024;

/**
 * The server's secrets (`slipway secrets --server`): admin only, since a secret set here
 * reaches every run's steps that list it. Values go in, never out.
 */
export function secretRoutes(db: Db, stateDir: string, access: UserAccess): Hono<Env> {
  const app = new Hono<Env>();
  const admin = requireScope(db, access)('admin');

  app.get('/secrets', admin, async (c) => c.json({ secrets: await listSecrets(db) }));

  app.post('/secrets/:name', admin, async (c) => {
    const name = c.req.param('name') ?? '';
    const nameProblem = secretNameProblem(name.slice(0, 200));
    if (nameProblem) return fail(c, 400, nameProblem);
    const body = await readJson(c, secretBody, secretBodyBytes);
    if (!body.ok) return body.response;
    const valueProblem = secretValueProblem(body.value.value);
    if (valueProblem) return fail(c, 400, `value: ${valueProblem}`);
    const now = Date.now();
    await putSecret(db, name, seal(secretsKey(stateDir, true), name, body.value.value), now);
    return c.json({ name, updated_at: new Date(now).toISOString() });
  });

  app.post('/secrets/:name/delete', admin, async (c) => {
    const name = c.req.param('name') ?? '';
    if (!(await deleteSecret(db, name))) return fail(c, 404, `no secret ${name.slice(0, 200)}`);
    return c.json({ name });
  });
  return app;
}
