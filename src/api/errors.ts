import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { z } from 'zod';

/** Every error answer has one shape: `{ "error": "what went wrong" }`. */
export function fail(c: Context, status: ContentfulStatusCode, error: string) {
  return c.json({ error }, status);
}

/**
 * Parses a JSON body of at most `maxBytes` against a schema; answers 413 when it is larger,
 * 400 with the first problem if it does not fit.
 */
export async function readJson<T>(c: Context, schema: z.ZodType<T>, maxBytes: number): Promise<{ ok: true; value: T } | { ok: false; response: Response }> {
  let body: unknown;
  try {
    const text = await bodyText(c, maxBytes);
    if (text === undefined) return { ok: false, response: fail(c, 413, `the body is over ${maxBytes} bytes`) };
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

/**
 * The body as text, or undefined when it is over `maxBytes`. A body of a stated length is
 * judged by it and read whole, straight from Node's request (every task's finish comes so:
 * building a web Request and its stream to count the bytes cost more than the rest of the
 * request); one streamed without a length is counted as it comes, and not read past the limit.
 */
export async function bodyText(c: Context, maxBytes: number): Promise<string | undefined> {
  const length = c.req.header('content-length');
  if (length !== undefined && c.req.header('transfer-encoding') === undefined) return Number(length) > maxBytes ? undefined : c.req.text();
  const reader = c.req.raw.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > maxBytes) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
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
