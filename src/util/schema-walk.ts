import { z } from 'zod';

/** The schema under its optional/default wrappers: the one that says what a value must be. */
export function unwrap(schema: z.ZodType): z.ZodType {
  let at = schema;
  while (at instanceof z.ZodOptional || at instanceof z.ZodDefault || at instanceof z.ZodPrefault) at = at.unwrap() as z.ZodType;
  return at;
}

/** The value found by following `path` into parsed data, or undefined where it leads nowhere. */
export function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let value = data;
  for (const seg of path) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, seg)) return undefined;
    value = (value as Record<PropertyKey, unknown>)[seg];
  }
  return value;
}
