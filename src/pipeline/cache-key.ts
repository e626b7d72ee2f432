/**
 * A cache key template: text with `{{ AXIS }}` (the task's value of a matrix axis of its
 * step) and `{{ hashFiles('GLOB', …) }}` (the sha256 of the files the globs match in the
 * task's tree, in path order). Axes are filled in by the coordinator when it hands out the
 * attempt; hashFiles by the agent, which has the tree.
 */
export type KeyPart = { text: string } | { axis: string } | { hashFiles: string[] };

const EXPRESSION = /\{\{(.*?)\}\}/g;
const AXIS = /^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*$/;
const HASH_FILES = /^\s*hashFiles\((.*)\)\s*$/;
const QUOTED = /^\s*'([^']+)'\s*$/;

/** The parts of a template, or the first problem in it (for the pipeline's diagnostics). */
export function parseCacheKey(template: string): KeyPart[] | { problem: string } {
  const parts: KeyPart[] = [];
  let last = 0;
  for (const match of template.matchAll(EXPRESSION)) {
    if (match.index > last) parts.push({ text: template.slice(last, match.index) });
    last = match.index + match[0].length;
    const inner = match[1]!;
    const axis = AXIS.exec(inner);
    if (axis) {
      parts.push({ axis: axis[1]! });
      continue;
    }
    const hash = HASH_FILES.exec(inner);
    if (!hash) return { problem: `{{${inner}}}: expected {{ AXIS }} or {{ hashFiles('GLOB', …) }}` };
    const globs = hash[1]!.split(',').map((arg) => QUOTED.exec(arg)?.[1]);
    if (globs.length === 0 || globs.some((glob) => glob === undefined)) return { problem: `{{${inner}}}: hashFiles takes one or more 'quoted' globs` };
    if (globs.some((glob) => glob!.startsWith('/') || glob!.split('/').includes('..'))) return { problem: `{{${inner}}}: hashFiles reads only inside the task's tree` };
    parts.push({ hashFiles: globs as string[] });
  }
  if (template.slice(last).includes('{{')) return { problem: 'an unclosed {{' };
  if (last < template.length) parts.push({ text: template.slice(last) });
  return parts;
}

/** The template with its axes filled in from `matrix`; hashFiles expressions are left for the agent. */
export function withAxes(template: string, matrix: Record<string, string>): string {
  return template.replace(EXPRESSION, (whole, inner: string) => {
    const axis = AXIS.exec(inner)?.[1];
    return axis !== undefined && axis in matrix ? matrix[axis]! : whole;
  });
}
