/**
 * What each alias stands for, found in one pass: the yaml library searches the whole
 * document on every alias lookup, which a file with many aliases turns quadratic.
 */
import { isAlias, isCollection, isPair, visit, type Alias, type Document, type Node, type Pair } from 'yaml';

/** Flow sequences may hold pairs (`[a: b]`), so pairs count as nodes here. */
type Item = Node | Pair;

export class Anchors {
  #targets = new Map<Alias, Node | undefined>();

  constructor(doc: Document) {
    const latest = new Map<string, Node>();
    visit(doc, {
      Node: (_, node) => {
        // Document order, like YAML: an alias means the last anchor of its name before it.
        if (isAlias(node)) this.#targets.set(node, latest.get(node.source));
        else if (node.anchor) latest.set(node.anchor, node);
      },
    });
  }

  resolve(node: Node | undefined): Node | undefined {
    return isAlias(node) ? this.#targets.get(node) : node;
  }

  get aliases(): Alias[] {
    return [...this.#targets.keys()];
  }

  /**
   * How many values (scalars and collections) `root` holds with every alias expanded, or
   * the alias that lies inside its own anchor (which would expand forever). Iterative, so
   * a long chain of aliases cannot overflow the stack.
   */
  expandedSize(root: Node): number | { circular: Alias } {
    const sizes = new Map<Item, number>();
    const open = new Set<Item>();
    const stack: Item[] = [root];
    while (stack.length > 0) {
      const node = stack.at(-1)!;
      if (sizes.has(node)) {
        stack.pop();
        continue;
      }
      const children = this.#children(node);
      if (!open.has(node)) {
        open.add(node);
        for (const child of children) {
          if (sizes.has(child)) continue;
          if (open.has(child)) return { circular: node as Alias };
          stack.push(child);
        }
        continue;
      }
      // A pair is its key and its value, and an alias what it stands for: neither adds a value.
      sizes.set(node, children.reduce((sum, child) => sum + sizes.get(child)!, isPair(node) || isAlias(node) ? 0 : 1));
      open.delete(node);
      stack.pop();
    }
    return sizes.get(root)!;
  }

  #children(item: Item): Item[] {
    if (isAlias(item)) {
      const target = this.#targets.get(item);
      return target ? [target] : [];
    }
    const children: unknown[] = isPair(item) ? [item.key, item.value] : isCollection(item) ? item.items : [];
    return children.filter((child): child is Item => typeof child === 'object' && child !== null);
  }
}
