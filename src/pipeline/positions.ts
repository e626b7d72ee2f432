/** Finding the YAML node a data path came from, to report mistakes where they are. */
import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair, type YAMLMap } from 'yaml';
import type { Anchors } from './anchors.ts';

export type Path = readonly (string | number)[];

export interface Position {
  line: number;
  column: number;
}

export const START: Position = { line: 1, column: 1 };

/** `steps.build.needs[0]`; '' for the whole file. */
export function formatPath(path: Path): string {
  return path.map((seg, i) => (typeof seg === 'number' ? `[${seg}]` : i === 0 ? seg : `.${seg}`)).join('');
}

interface Hop {
  key?: Node;
  value?: Node;
}

export class Locator {
  #doc: Document;
  #lines: LineCounter;
  #anchors: Anchors;
  #index = new WeakMap<YAMLMap, Map<string, Pair>>();

  constructor(doc: Document, lines: LineCounter, anchors: Anchors) {
    this.#doc = doc;
    this.#lines = lines;
    this.#anchors = anchors;
  }

  /** The value at `path`, or the nearest ancestor that exists. */
  value(path: Path): Position {
    return this.#of(this.#deepest(this.#walk(path), 'value'));
  }

  /**
   * The key of the last segment of `path` (its value when it has no key). When the key is
   * missing, that is the key of the mapping that lacks it: where the user would add it.
   */
  key(path: Path): Position {
    return this.#of(this.#deepest(this.#walk(path), 'key'));
  }

  offset(offset: number): Position {
    const { line, col } = this.#lines.linePos(offset);
    return line === 0 ? START : { line, column: col };
  }

  /** The scalar at `path` as written, through aliases; undefined when there is none. */
  source(path: Path): string | undefined {
    const hops = this.#walk(path);
    if (hops.length !== path.length + 1) return undefined;
    const node = this.#anchors.resolve(hops.at(-1)?.value);
    return isScalar(node) ? (node.source ?? String(node.value)) : undefined;
  }

  /** One hop for the document, then one per segment found; stops at the first missing one. */
  #walk(path: Path): Hop[] {
    const hops: Hop[] = [{ value: this.#doc.contents ?? undefined }];
    for (const seg of path) {
      const node = this.#anchors.resolve(hops.at(-1)!.value);
      let hop: Hop | undefined;
      if (isMap(node)) {
        const pair = this.#pairs(node).get(String(seg));
        if (pair) hop = { key: pair.key as Node, value: (pair.value as Node | null) ?? undefined };
      } else if (isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg];
        if (item) hop = { value: item as Node };
      }
      if (!hop) break;
      hops.push(hop);
    }
    return hops;
  }

  /** A mapping's pairs by key, indexed once: a file with many mistakes looks up many. */
  #pairs(map: YAMLMap): Map<string, Pair> {
    let index = this.#index.get(map);
    if (!index) {
      index = new Map();
      for (const pair of map.items) if (isScalar(pair.key)) index.set(String(pair.key.value), pair as Pair);
      this.#index.set(map, index);
    }
    return index;
  }

  #deepest(hops: Hop[], prefer: 'key' | 'value'): Node | undefined {
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!;
      const node = prefer === 'key' ? (hop.key ?? hop.value) : (hop.value ?? hop.key);
      if (node?.range) return node;
    }
    return undefined;
  }

  #of(node: Node | undefined): Position {
    return node?.range ? this.offset(node.range[0]) : START;
  }
}
