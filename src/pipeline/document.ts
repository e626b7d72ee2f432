/**
 * Mistakes in the YAML document itself, found before it becomes data: duplicate keys
 * (checked here in linear time; the yaml library's check is quadratic in a mapping's size)
 * and aliases that name no anchor, contain themselves, or expand too much.
 */
import { isPair, isScalar, isSeq, visit, type Document } from 'yaml';
import type { Anchors } from './anchors.ts';
import type { Diagnostics } from './diagnostics.ts';
import { MAX_VALUES } from './limits.ts';
import { formatPath, START, type Locator, type Path } from './positions.ts';

export function checkDuplicateKeys(doc: Document, report: Diagnostics, locator: Locator): void {
  visit(doc, {
    Map: (_, map, ancestors) => {
      const seen = new Set<string>();
      for (const { key } of map.items) {
        if (!isScalar(key) || key.source === '<<') continue;
        const name = String(key.value);
        if (seen.has(name) && key.range) {
          const label = formatPath(pathOf([...ancestors, map]));
          report.at(locator.offset(key.range[0]), `${label ? `${label}: ` : ''}duplicate key '${name}'`);
        }
        seen.add(name);
      }
    },
  });
}

/** The data path of the last of `ancestors`, a chain of nodes from the document down. */
function pathOf(ancestors: readonly unknown[]): Path {
  const path: (string | number)[] = [];
  ancestors.forEach((node, i) => {
    const parent = ancestors[i - 1];
    if (isPair(node) && isScalar(node.key)) path.push(String(node.key.value));
    else if (isSeq(parent)) path.push(parent.items.indexOf(node));
  });
  return path;
}

/** False when the document cannot safely become data. */
export function checkAliases(doc: Document, anchors: Anchors, report: Diagnostics, locator: Locator): boolean {
  const at = (node: { range?: readonly number[] | null } | undefined) =>
    node?.range ? locator.offset(node.range[0]!) : START;
  const aliases = anchors.aliases;
  const unresolved = aliases.filter((alias) => !anchors.resolve(alias));
  for (const alias of unresolved) report.at(at(alias), `alias *${alias.source} has no anchor &${alias.source} before it`);
  if (unresolved.length > 0) return false;
  if (aliases.length === 0 || !doc.contents) return true;
  const size = anchors.expandedSize(doc.contents);
  if (typeof size !== 'number') {
    report.at(at(size.circular), `alias *${size.circular.source} lies inside its own anchor`);
    return false;
  }
  if (size > MAX_VALUES) {
    report.at(at(aliases[0]), `aliases expand the file to more than ${MAX_VALUES.toLocaleString('en-US')} values`);
    return false;
  }
  return true;
}
