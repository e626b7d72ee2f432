import { describe, expect, it } from 'vitest';
import { PLAIN, applySgr, endStyle, parseAnsi, stripAnsi, styleClass } from '../../src/web/lib/ansi.ts';

const spans = (line: string) => parseAnsi(line).spans.map((s) => [s.text, styleClass(s.style)]);

describe('parseAnsi', () => {
  it('leaves plain text as one plain span', () => {
    expect(spans('hello world')).toEqual([['hello world', '']]);
  });

  it('colours text with the normal and bright foregrounds, and resets', () => {
    expect(spans('a\x1b[31mred\x1b[0mb\x1b[92mgreen\x1b[m')).toEqual([
      ['a', ''], ['red', 'af1'], ['b', ''], ['green', 'af10'],
    ]);
  });

  it('combines bold, foreground and background in one sequence', () => {
    expect(spans('\x1b[1;33;44mwarn\x1b[22mplain-weight')).toEqual([
      ['warn', 'af3 ab4 a-b'], ['plain-weight', 'af3 ab4'],
    ]);
  });

  it('resets only what 39 and 49 name', () => {
    expect(spans('\x1b[1;31;42mx\x1b[39my\x1b[49mz')).toEqual([
      ['x', 'af1 ab2 a-b'], ['y', 'ab2 a-b'], ['z', 'a-b'],
    ]);
  });

  it('consumes the arguments of extended colours instead of reading them as codes', () => {
    // Without consuming, `5` would read as blink and `1` as bold.
    expect(spans('\x1b[38;5;1mA\x1b[0m\x1b[38;5;208mB\x1b[0m\x1b[38;2;1;2;3mC')).toEqual([
      ['A', 'af1'], ['BC', ''],
    ]);
    expect(spans('\x1b[38:5:4mD')).toEqual([['D', 'af4']]);
  });

  it('strips cursor movement, erase, OSC titles and hyperlinks, charset switches and control bytes', () => {
    const line = 'a\x1b[2Kb\x1b[10;20Hc\x1b]0;title\x07d\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\e\x1b(Bf\x08g\x1b[?25lh';
    expect(spans(line)).toEqual([['abcdlinkefgh', '']]);
  });

  it('keeps tabs', () => {
    expect(stripAnsi('a\tb')).toBe('a\tb');
  });

  it('drops a sequence cut off at the end of the line', () => {
    expect(spans('ok\x1b[3')).toEqual([['ok', '']]);
  });

  it('merges adjacent spans whose style did not change', () => {
    expect(spans('\x1b[31ma\x1b[31mb\x1b[Kc')).toEqual([['abc', 'af1']]);
  });

  it('continues from the style the previous line left', () => {
    const first = parseAnsi('\x1b[32mgreen starts');
    expect(first.end.fg).toBe(2);
    const second = parseAnsi('and goes on\x1b[0m done', first.end);
    expect(second.spans.map((s) => [s.text, styleClass(s.style)])).toEqual([['and goes on', 'af2'], [' done', '']]);
    expect(second.end).toBe(PLAIN);
  });

  it('answers the end style without building spans', () => {
    expect(endStyle('plain', PLAIN)).toBe(PLAIN);
    expect(endStyle('\x1b[1;35mx', PLAIN)).toMatchObject({ fg: 5, bold: true });
  });
});

describe('applySgr', () => {
  it('treats an empty parameter list as a reset', () => {
    expect(applySgr({ ...PLAIN, fg: 3 }, '')).toBe(PLAIN);
  });

  it('returns the same object when nothing changes, so renders can compare cheaply', () => {
    const red = applySgr(PLAIN, '31');
    expect(applySgr(red, '31')).toBe(red);
    expect(applySgr(PLAIN, '0')).toBe(PLAIN);
  });
});
