/** Turns zod's findings about a config file into positioned messages a person can act on. */
import { z } from 'zod';
import type { Diagnostic } from '../pipeline/errors.ts';
import { formatPath, type Path, type Position } from '../pipeline/positions.ts';
import { didYouMean } from '../pipeline/suggest.ts';
import { unwrap, valueAt } from '../util/schema-walk.ts';
import type { TomlLocator } from './toml-locator.ts';

export function configDiagnostics(
  issues: readonly z.core.$ZodIssue[],
  schema: z.ZodType,
  data: unknown,
  file: string,
  locator: TomlLocator,
): Diagnostic[] {
  const found: Diagnostic[] = [];
  const at = (position: Position, label: Path, message: string): void => {
    found.push({ file, ...position, message: label.length === 0 ? message : `${formatPath(label)}: ${message}` });
  };
  for (const issue of issues) {
    const path = issue.path.map((seg) => (typeof seg === 'symbol' ? String(seg) : seg));
    const value = valueAt(data, path);
    if (issue.code === 'unrecognized_keys') {
      const known = keysOf(schemaAt(schema, path));
      for (const key of issue.keys) at(locator.key([...path, key]), path, `unknown key '${key}'${didYouMean(key, known)}`);
    } else if (issue.code === 'invalid_key') {
      at(locator.key(path), path, issue.issues[0]?.message ?? issue.message);
    } else if (value === undefined && path.length > 0) {
      at(locator.key(path), path.slice(0, -1), `missing required key '${path.at(-1)}'`);
    } else {
      at(locator.value(path), path, `${issue.message}, got ${show(value)}`);
    }
  }
  return found;
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (value instanceof Date) return 'a date';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list';
  if (typeof value === 'object' && value !== null) return 'a table';
  return String(value);
}

/** The schema that checks the value at `path`. */
function schemaAt(schema: z.ZodType, path: Path): z.ZodType | undefined {
  let at: z.ZodType | undefined = unwrap(schema);
  for (const seg of path) {
    if (at instanceof z.ZodObject) at = at.shape[seg] as z.ZodType | undefined;
    else if (at instanceof z.ZodArray) at = at.element as z.ZodType;
    else if (at instanceof z.ZodRecord) at = at.valueType as z.ZodType;
    else return undefined;
    at = at && unwrap(at);
  }
  return at;
}

function keysOf(schema: z.ZodType | undefined): string[] {
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}
