/**
 * The commented default config `slipway config` prints, made from the schema so that it
 * names every key with its default and its description, and loads as the defaults do.
 */
import { stringify } from 'smol-toml';
import { z } from 'zod';
import { unwrap } from '../util/schema-walk.ts';
import { configSchema } from './schema.ts';

const PREAMBLE = `# Slipway configuration: $XDG_CONFIG_HOME/slipway/config.toml (default ~/.config/slipway/),
# or the file SLIPWAY_CONFIG names. Every key is shown with its default: keep the ones you change.
# Durations: 90s, 5m, 2h, 1h30m. A relative path is in the state directory ($XDG_STATE_HOME/slipway,
# default ~/.local/state/slipway); ~/ is your home directory. Check a file: slipway config check`;

export function defaultConfigText(): string {
  const lines = [PREAMBLE];
  table(configSchema, [], lines);
  return `${lines.join('\n')}\n`;
}

type Kind = 'table' | 'tables' | 'named' | 'value';

function kind(schema: z.ZodType): Kind {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodRecord && tableOf(inner.valueType as z.ZodType)) return 'named';
  if (inner instanceof z.ZodObject || inner instanceof z.ZodRecord) return 'table';
  if (inner instanceof z.ZodArray && unwrap(inner.element as z.ZodType) instanceof z.ZodObject) return 'tables';
  return 'value';
}

/** A table's own values under its header, then its subtables; TOML wants them in that order. */
function table(schema: z.ZodType, path: string[], lines: string[]): void {
  const inner = unwrap(schema);
  if (inner instanceof z.ZodRecord) {
    lines.push('', comment(meta(schema).description), `[${path.join('.')}]`, stringify(defaultOf(schema)).trimEnd());
    return;
  }
  const fields = Object.entries((inner as z.ZodObject).shape as Record<string, z.ZodType>);
  const values = fields.filter(([, field]) => kind(field) === 'value');
  if (values.length > 0) {
    lines.push('', comment(meta(schema).description), `[${path.join('.')}]`);
    for (const [key, field] of values) lines.push(...value(key, field));
  }
  for (const [key, field] of fields) {
    if (kind(field) === 'table') table(field, [...path, key], lines);
    else if (kind(field) === 'tables') tablesExample(field, [...path, key], lines);
    else if (kind(field) === 'named') namedExample(field, [...path, key], lines);
  }
}

/** The object schema under a table's refinements and wrappers, if it is one. */
function tableOf(schema: z.ZodType): z.ZodObject | undefined {
  let at = unwrap(schema);
  while (at instanceof z.ZodPipe) at = unwrap(at.in as z.ZodType);
  return at instanceof z.ZodObject ? at : undefined;
}

/** Tables by name (`[pools.NAME]`) are none by default: one example, commented out, named by its first example key. */
function namedExample(field: z.ZodType, path: string[], lines: string[]): void {
  const { description, examples } = meta(field);
  const element = tableOf((unwrap(field) as z.ZodRecord).valueType as z.ZodType)!;
  const example = (examples?.[0] ?? {}) as Record<string, unknown>;
  lines.push('', comment(`${description} For example:`), `# [${[...path, 'linux'].join('.')}]`);
  for (const [key, sub] of Object.entries(element.shape as Record<string, z.ZodType>)) {
    lines.push(`# ${comment(meta(sub).description)}`, `# ${keyValue(key, example[key] ?? defaultOf(sub))}`);
  }
}

/** `key = value` on one line: a table as an inline table, which smol-toml does not write. */
function keyValue(key: string, value: unknown): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return stringify({ [key]: value }).trimEnd();
  const entries = Object.entries(value).map(([k, v]) => keyValue(k, v));
  return `${stringify({ [key]: 0 }).trimEnd().replace(/ = 0$/, '')} = { ${entries.join(', ')} }`;
}

/** `key = default` under its description; commented out with an example when it has no default. */
function value(key: string, field: z.ZodType): string[] {
  const { description, examples } = meta(field);
  const byDefault = defaultOf(field);
  const line = stringify({ [key]: byDefault ?? examples?.[0] }).trimEnd();
  return [comment(description), byDefault === undefined ? `# ${line}` : line];
}

/** An array of tables is empty by default: one example element, commented out. */
function tablesExample(field: z.ZodType, path: string[], lines: string[]): void {
  const { description, examples } = meta(field);
  const element = unwrap((unwrap(field) as z.ZodArray).element as z.ZodType) as z.ZodObject;
  const example = (examples?.[0] ?? {}) as Record<string, unknown>;
  lines.push('', comment(`${description} For example:`), `# [[${path.join('.')}]]`);
  for (const [key, sub] of Object.entries(element.shape as Record<string, z.ZodType>)) {
    lines.push(`# ${comment(meta(sub).description)}`, `# ${stringify({ [key]: example[key] }).trimEnd()}`);
  }
}

function comment(description: string | undefined): string {
  return `# ${description ?? ''}`.trimEnd();
}

/** Metadata set anywhere along the wrappers (`.default(…).describe(…)` puts it on the outer one). */
function meta(schema: z.ZodType): { description?: string; examples?: unknown[] } {
  for (let at = schema; ; at = (at as z.ZodOptional).unwrap() as z.ZodType) {
    const found = z.globalRegistry.get(at);
    if (found?.description) return found as { description?: string; examples?: unknown[] };
    if (at === unwrap(at)) return {};
  }
}

function defaultOf(schema: z.ZodType): unknown {
  const parsed = schema.safeParse(undefined);
  return parsed.success ? parsed.data : undefined;
}
