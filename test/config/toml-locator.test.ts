import { parse } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { TomlLocator } from '../../src/config/toml-locator.ts';

const toml = (...lines: string[]): string => lines.join('\n');
const at = (line: number, column: number) => ({ line, column });

describe('TomlLocator', () => {
  it('finds keys and values under table headers', () => {
    const locator = new TomlLocator(toml('# comment', '[server]', '  listen = "x"  # why', 'port=1'));
    expect(locator.key(['server', 'listen'])).toEqual(at(3, 3));
    expect(locator.value(['server', 'listen'])).toEqual(at(3, 12));
    expect(locator.value(['server', 'port'])).toEqual(at(4, 6));
    expect(locator.key(['server'])).toEqual(at(2, 2));
  });

  it('falls back to the nearest ancestor for what the file does not have, and to 1:1', () => {
    const locator = new TomlLocator(toml('', '[store]', 'path = "a"'));
    expect(locator.key(['store', 'busy_timeout'])).toEqual(at(2, 2));
    expect(locator.key(['server', 'listen'])).toEqual(at(1, 1));
  });

  it('follows dotted and quoted keys, in headers and before =', () => {
    const locator = new TomlLocator(toml('a . "b.c" = 1', "[ x.'y z' ]", 'p.q = true'));
    expect(locator.key(['a'])).toEqual(at(1, 1));
    expect(locator.key(['a', 'b.c'])).toEqual(at(1, 5));
    expect(locator.value(['a', 'b.c'])).toEqual(at(1, 13));
    expect(locator.key(['x', 'y z'])).toEqual(at(2, 5));
    expect(locator.key(['x', 'y z', 'p', 'q'])).toEqual(at(3, 3));
  });

  it('counts arrays of tables, and puts a subtable in their latest element', () => {
    const locator = new TomlLocator(toml(
      '[[hosts]]', 'name = "a"',
      '[[hosts]]', 'name = "b"', '[hosts.extra]', 'k = 1',
      '[[hosts.disks]]', 'size = 2',
    ));
    expect(locator.key(['hosts', 0, 'name'])).toEqual(at(2, 1));
    expect(locator.key(['hosts', 1, 'name'])).toEqual(at(4, 1));
    expect(locator.key(['hosts', 1, 'missing'])).toEqual(at(3, 1));
    expect(locator.key(['hosts', 1, 'extra', 'k'])).toEqual(at(6, 1));
    expect(locator.key(['hosts', 1, 'disks', 0, 'size'])).toEqual(at(8, 1));
  });

  it('looks into inline tables and arrays, over several lines', () => {
    const locator = new TomlLocator(toml('t = { a = 1, b = { c = "}" } }', 'l = [', '  "x", # one', '  [1, 2],', '  { d = 3 },', ']'));
    expect(locator.key(['t', 'b', 'c'])).toEqual(at(1, 20));
    expect(locator.value(['t', 'b', 'c'])).toEqual(at(1, 24));
    expect(locator.value(['l', 0])).toEqual(at(3, 3));
    expect(locator.value(['l', 1, 1])).toEqual(at(4, 7));
    expect(locator.key(['l', 2, 'd'])).toEqual(at(5, 5));
  });

  it('is not fooled by headers, keys and quotes inside strings', () => {
    const text = toml(
      '# nothing is at 1:1, where a path that is not found points',
      'a = """', '[fake]', 'b = "\\"""" ', "c = '''x = ''''", 'd = "[e] # \\" f = 1"', 'g = 1',
    );
    expect(parse(text)).toEqual({ a: '[fake]\nb = ""', c: "x = '", d: '[e] # " f = 1', g: 1 });
    const locator = new TomlLocator(text);
    for (const missing of ['fake', 'b', 'e', 'f']) expect(locator.key([missing])).toEqual(at(1, 1));
    expect(locator.key(['a'])).toEqual(at(2, 1));
    expect(locator.key(['c'])).toEqual(at(5, 1));
    expect(locator.key(['d'])).toEqual(at(6, 1));
    expect(locator.key(['g'])).toEqual(at(7, 1));
  });

  it('counts columns the same with CRLF line ends', () => {
    const locator = new TomlLocator('[server]\r\nlisten = 1\r\n');
    expect(locator.value(['server', 'listen'])).toEqual(at(2, 10));
  });

  it('ends on text that is not TOML', () => {
    for (const text of ['[', '[[a', 'a = "', 'a = """', '{', 'a = [1, {', '= = =', '"\\', 'a.', '\u0000]]]}}}']) {
      expect(() => new TomlLocator(text)).not.toThrow();
    }
  });
});
