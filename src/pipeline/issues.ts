/** Turns zod's findings into positioned messages a person can act on. */
import { z } from 'zod';
import type { Diagnostics } from './diagnostics.ts';
import type { Locator, Path } from './positions.ts';
import { didYouMean } from './suggest.ts';
import { unwrap, valueAt } from '../util/schema-walk.ts';

type Issue = z.core.$ZodIssue;

/**
 * Reports `issues` from checking `data` against `schema`. `base` is where `schema` sits
 * in the file: issues inside a union are relative to the union.
 */
export function reportIssues(
  issues: readonly Issue[],
  schema: z.ZodType,
  data: unknown,
  report: Diagnostics,
  locator: Locator,
  base: Path = [],
): void {
  for (const issue of issues) {
    if (report.full) return;
    const path = [...base, ...issue.path.map((seg) => (typeof seg === 'symbol' ? String(seg) : seg))];
    const value = valueAt(data, path);
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = keysOf(schemaAt(schema, issue.path));
        for (const key of issue.keys) report.key([...path, key], `unknown key '${key}'${didYouMean(key, known)}`, path);
        break;
      }
      case 'invalid_key':
        report.key(path, issue.issues[0]?.message ?? issue.message);
        break;
      case 'invalid_union': {
        const union = schemaAt(schema, issue.path);
        const chosen = union instanceof z.ZodUnion ? chooseBranch(issue.errors, union.options) : undefined;
        if (chosen) reportIssues(chosen.issues, chosen.schema, data, report, locator, path);
        else report.value(path, `${issue.message}, got ${show(value)}`);
        break;
      }
      default:
        if (value === undefined && path.length > 0) {
          report.key(path, `missing required key '${path.at(-1)}'`, path.slice(0, -1));
        } else if (issue.code === 'invalid_type' && issue.expected === 'string' && isNumberOrBoolean(value)) {
          report.value(path, quoteAdvice(value, locator.source(path) ?? String(value)));
        } else {
          const hint =
            issue.code === 'invalid_value' && typeof value === 'string'
              ? didYouMean(value, issue.values.map(String))
              : '';
          report.value(path, `${issue.message}, got ${show(value)}${hint}`);
        }
    }
  }
}

/**
 * The branch the user evidently meant: the only one whose type matched (a mapping for
 * `{ run, activity }`), so its own complaints are the useful ones.
 */
function chooseBranch(
  errors: readonly (readonly Issue[])[],
  options: readonly z.core.SomeType[],
): { issues: readonly Issue[]; schema: z.ZodType } | undefined {
  const matching = errors.flatMap((issues, i) =>
    issues.some((issue) => issue.path.length === 0 && issue.code === 'invalid_type') ? [] : [i],
  );
  const only = matching.length === 1 ? matching[0]! : undefined;
  return only === undefined ? undefined : { issues: errors[only]!, schema: options[only] as z.ZodType };
}

function isNumberOrBoolean(value: unknown): value is number | boolean {
  return typeof value === 'number' || typeof value === 'boolean';
}

/** YAML reads `3.10` as the number 3.1: say so, since the difference is easy to miss. */
function quoteAdvice(value: number | boolean, source: string): string {
  const kind = typeof value === 'number' ? 'number' : 'boolean';
  const read = String(value) === source ? `a ${kind}` : `the ${kind} ${String(value)}`;
  return `${source} is read as ${read}; quote it: "${source}"`;
}

function show(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list';
  if (typeof value === 'object') return Object.keys(value).length === 0 ? 'an empty mapping' : 'a mapping';
  return String(value);
}

/** The schema that checks the value at `path`; through a union, the option that has `path`. */
function schemaAt(schema: z.ZodType, path: readonly PropertyKey[]): z.ZodType | undefined {
  let at: z.ZodType | undefined = unwrap(schema);
  for (const seg of path) {
    at = at && child(at, String(seg));
    at = at && unwrap(at);
  }
  return at;
}

function child(schema: z.ZodType, seg: string): z.ZodType | undefined {
  if (schema instanceof z.ZodObject) return schema.shape[seg] as z.ZodType | undefined;
  if (schema instanceof z.ZodRecord) return schema.valueType as z.ZodType;
  if (schema instanceof z.ZodArray) return schema.element as z.ZodType;
  if (schema instanceof z.ZodUnion) {
    for (const option of schema.options as z.ZodType[]) {
      const found = child(unwrap(option), seg);
      if (found) return found;
    }
  }
  return undefined;
}

/** The keys a mapping may have here; zod reports a union's only mapping option as the union. */
function keysOf(schema: z.ZodType | undefined): string[] {
  if (schema instanceof z.ZodObject) return Object.keys(schema.shape);
  if (schema instanceof z.ZodUnion) return (schema.options as z.ZodType[]).flatMap((option) => keysOf(unwrap(option)));
  return [];
}
