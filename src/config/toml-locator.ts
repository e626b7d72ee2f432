/**
 * Where keys and values sit in TOML text. smol-toml gives values without positions, so
 * this scans the text: table headers, arrays of tables, dotted and quoted keys, inline
 * tables and arrays. It need not judge the text (smol-toml does); on anything it ends, in
 * time linear in the text, with fewer positions known when the text is not TOML. It also
 * finds nesting too deep to hand to smol-toml, whose time and memory grow with the square
 * of the depth of dotted keys and table headers (a 100 KB file of them took gigabytes).
 */
import { START, type Path, type Position } from '../pipeline/positions.ts';

/**
 * How deep tables, dotted keys, arrays and inline tables may nest, together. A real
 * config nests four or five levels deep.
 */
export const MAX_TOML_DEPTH = 16;

interface Entry {
  key: number;
  value: number;
}

interface Key {
  name: string;
  at: number;
}

export class TomlLocator {
  readonly #entries = new Map<string, Entry>();
  readonly #lineStarts = [0];
  constructor(text: string) {
    for (let i = 0; i < text.length; i++) if (text[i] === '\n') this.#lineStarts.push(i + 1);
    try {
      new Scanner(text, (path, key, value) => {
        const id = JSON.stringify(path);
        // The first mention is where a table or key is defined; later ones extend it.
        if (!this.#entries.has(id)) this.#entries.set(id, { key, value });
      }).document();
    } catch (error) {
      // Positions deeper than that are not known (see tooDeep).
      if (!(error instanceof TooDeep)) throw error;
    }
  }

  /** The key of `path`; when it is not in the file, the nearest ancestor's (where it would go). */
  key(path: Path): Position {
    return this.#position(this.#deepest(path)?.key);
  }

  /** The value at `path`, or the nearest ancestor's position when it is not in the file. */
  value(path: Path): Position {
    return this.#position(this.#deepest(path)?.value);
  }

  #deepest(path: Path): Entry | undefined {
    for (let n = path.length; n > 0; n--) {
      const entry = this.#entries.get(JSON.stringify(path.slice(0, n)));
      if (entry) return entry;
    }
    return undefined;
  }

  #position(offset: number | undefined): Position {
    if (offset === undefined) return START;
    let low = 0;
    let high = this.#lineStarts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (this.#lineStarts[mid]! <= offset) low = mid;
      else high = mid - 1;
    }
    return { line: low + 1, column: offset - this.#lineStarts[low]! + 1 };
  }
}

/**
 * Where `text` first nests deeper than MAX_TOML_DEPTH, or undefined: one scan, in time
 * linear in the text, to run before smol-toml does.
 */
export function tooDeep(text: string): Position | undefined {
  try {
    new Scanner(text, () => {}).document();
    return undefined;
  } catch (error) {
    if (!(error instanceof TooDeep)) throw error;
    const lineStart = text.lastIndexOf('\n', error.offset - 1) + 1;
    let line = 1;
    for (let i = 0; i < lineStart; i++) if (text[i] === '\n') line++;
    return { line, column: error.offset - lineStart + 1 };
  }
}

type Recorder = (path: Path, key: number, value: number) => void;

class TooDeep extends Error {
  readonly offset: number;

  constructor(offset: number) {
    super(`nesting deeper than ${MAX_TOML_DEPTH}`);
    this.offset = offset;
  }
}

const BARE_KEY = /[A-Za-z0-9_-]*/y;

class Scanner {
  readonly #text: string;
  readonly #record: Recorder;
  /** How many tables each array of tables has so far, by its path. */
  readonly #arrays = new Map<string, number>();
  #i = 0;

  /** Every path is recorded before the scan goes into it, so the depth check here bounds the recursion too. */
  constructor(text: string, record: Recorder) {
    this.#text = text;
    this.#record = (path, key, value) => {
      if (path.length > MAX_TOML_DEPTH) throw new TooDeep(key);
      record(path, key, value);
    };
  }

  document(): void {
    let table: Path = [];
    while (this.#i < this.#text.length) {
      const before = this.#i;
      this.#skipBlank();
      if (this.#i >= this.#text.length) break;
      if (this.#text[this.#i] === '[') table = this.#header();
      else this.#keyValue(table);
      this.#skipLine();
      if (this.#i === before) this.#i++;
    }
  }

  /** `[a.b]` or `[[a.b]]`: the path of the table the following keys belong to. */
  #header(): Path {
    const start = this.#i;
    const isArray = this.#text.startsWith('[[', start);
    this.#i += isArray ? 2 : 1;
    const keys = this.#keys();
    const path: (string | number)[] = [];
    keys.forEach(({ name, at }, n) => {
      path.push(name);
      this.#record(path, at, at);
      const id = JSON.stringify(path);
      const count = this.#arrays.get(id);
      if (isArray && n === keys.length - 1) {
        this.#arrays.set(id, (count ?? 0) + 1);
        path.push(count ?? 0);
        this.#record(path, start, start);
      } else if (count !== undefined) {
        // A table under an array of tables belongs to its latest element.
        path.push(count - 1);
      }
    });
    return path;
  }

  /** `a.b = value`, inside `table`. */
  #keyValue(table: Path): void {
    const keys = this.#keys();
    this.#skipSpaces();
    if (this.#text[this.#i] === '=') this.#i++;
    this.#skipSpaces();
    const valueAt = this.#i;
    const path = [...table];
    keys.forEach(({ name, at }, n) => {
      path.push(name);
      this.#record(path, at, n === keys.length - 1 ? valueAt : at);
    });
    this.#value(path);
  }

  #value(path: Path): void {
    const text = this.#text;
    const c = text[this.#i];
    if (text.startsWith('"""', this.#i)) this.#multiline('"""');
    else if (text.startsWith("'''", this.#i)) this.#multiline("'''");
    else if (c === '"' || c === "'") this.#string();
    else if (c === '[') this.#items(path);
    else if (c === '{') this.#inlineTable(path);
    else while (this.#i < text.length && !',]}#\r\n'.includes(text[this.#i]!)) this.#i++;
  }

  #items(path: Path): void {
    this.#i++;
    for (let index = 0; this.#i < this.#text.length; index++) {
      const before = this.#i;
      this.#skipBlank();
      if (this.#text[this.#i] === ']') {
        this.#i++;
        return;
      }
      const item = [...path, index];
      this.#record(item, this.#i, this.#i);
      this.#value(item);
      this.#skipBlank();
      if (this.#text[this.#i] === ',') this.#i++;
      if (this.#i === before) this.#i++;
    }
  }

  #inlineTable(path: Path): void {
    this.#i++;
    while (this.#i < this.#text.length) {
      const before = this.#i;
      this.#skipBlank();
      if (this.#text[this.#i] === '}') {
        this.#i++;
        return;
      }
      this.#keyValue(path);
      this.#skipBlank();
      if (this.#text[this.#i] === ',') this.#i++;
      if (this.#i === before) this.#i++;
    }
  }

  /** A dotted key, each part bare or quoted, with the offset of each part. */
  #keys(): Key[] {
    const keys: Key[] = [];
    for (;;) {
      this.#skipSpaces();
      const at = this.#i;
      keys.push({ name: this.#key(), at });
      this.#skipSpaces();
      if (this.#text[this.#i] !== '.' || this.#i === at) return keys;
      this.#i++;
    }
  }

  #key(): string {
    const c = this.#text[this.#i];
    if (c === '"' || c === "'") {
      const start = this.#i;
      this.#string();
      const raw = this.#text.slice(start, this.#i);
      if (c === "'") return raw.slice(1, -1);
      try {
        return JSON.parse(raw) as string;
      } catch {
        return raw.slice(1, -1);
      }
    }
    BARE_KEY.lastIndex = this.#i;
    const bare = BARE_KEY.exec(this.#text)![0];
    this.#i += bare.length;
    return bare;
  }

  /** A one-line string, basic (with escapes) or literal. */
  #string(): void {
    const quote = this.#text[this.#i];
    this.#i++;
    while (this.#i < this.#text.length) {
      const c = this.#text[this.#i];
      if (c === '\n') return;
      this.#i += quote === '"' && c === '\\' ? 2 : 1;
      if (c === quote) return;
    }
  }

  #multiline(delimiter: string): void {
    this.#i += 3;
    while (this.#i < this.#text.length) {
      if (delimiter === '"""' && this.#text[this.#i] === '\\') {
        this.#i += 2;
      } else if (this.#text.startsWith(delimiter, this.#i)) {
        this.#i += 3;
        // Up to two quotes right before the delimiter belong to the string.
        for (let extra = 0; extra < 2 && this.#text[this.#i] === delimiter[0]; extra++) this.#i++;
        return;
      } else {
        this.#i++;
      }
    }
  }

  #skipSpaces(): void {
    while (this.#text[this.#i] === ' ' || this.#text[this.#i] === '\t') this.#i++;
  }

  /** Spaces, line breaks and comments. */
  #skipBlank(): void {
    for (;;) {
      this.#skipSpaces();
      const c = this.#text[this.#i];
      if (c === '\n' || c === '\r') this.#i++;
      else if (c === '#') this.#skipLine();
      else return;
    }
  }

  /** To the end of the line: what follows a header or a value there can only be a comment. */
  #skipLine(): void {
    while (this.#i < this.#text.length && this.#text[this.#i] !== '\n') this.#i++;
  }
}
