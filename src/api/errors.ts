import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';

/** Every error answer has one shape: `{ "error": "what went wrong" }`. */
export function fail(c: Context, status: ContentfulStatusCode, error: string) {
  return c.json({ error }, status);
}

/** Parses a JSON body against a schema; answers 400 with the first problem if it does not fit. */
export async function readJson<T>(c: Context, schema: z.ZodType<T>): Promise<{ ok: true; value: T } | { ok: false; response: Response }> {
  let body: unknown;
  try {
    const text = await c.req.text();
    body = text.length === 0 ? {} : JSON.parse(text, refusePrototypeKey);
  } catch (error) {
    return { ok: false, response: fail(c, 400, error instanceof PrototypeKey ? error.message : 'the body is not valid JSON') };
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    return { ok: false, response: fail(c, 400, `${where}${issue.message}`) };
  }
  return { ok: true, value: parsed.data };
}

class PrototypeKey extends Error {}

/**
 * No field is named `__proto__`, and zod drops such a key without a word (a selection's
 * `set` would lose an axis): a body holding one is refused, wherever it is.
 */
function refusePrototypeKey(key: string, value: unknown): unknown {
  if (key === '__proto__') throw new PrototypeKey(`the body holds a key '__proto__', which Slipway refuses wherever it is`);
  return value;
}

export function bearerToken(c: Context): string | undefined {
  const header = c.req.header('authorization');
  const match = header?.match(/^Bearer ([A-Za-z0-9._~+/=-]{16,200})$/);
  return match?.[1];
}
