import { describe, expect, it } from 'vitest';
import { LogBuffer } from '../../src/web/lib/log-buffer.ts';

describe('LogBuffer', () => {
  it('splits chunks cut mid-line into lines, showing the partial last one', () => {
    const b = new LogBuffer();
    b.append('one\ntw');
    expect(b.length).toBe(2);
    expect(b.completeLines).toBe(1);
    expect(b.line(1).text).toBe('tw');
    b.append('o\nthree\n');
    expect(b.length).toBe(3);
    expect([0, 1, 2].map((i) => b.line(i).text)).toEqual(['one', 'two', 'three']);
  });

  it('carries colour across lines and across a chunk cut inside an escape', () => {
    const b = new LogBuffer();
    b.append('\x1b[3');
    b.append('1mred\nstill red\x1b[0m\nplain\n');
    expect(b.line(1).start.fg).toBe(1);
    expect(b.line(2).start.fg).toBe(null);
    expect(b.plainLine(0)).toBe('red');
  });

  it('shows what follows the last carriage return, as a terminal overwrites', () => {
    const b = new LogBuffer();
    b.append('progress 10%\rprogress 50%\r\x1b[32mdone\r\n');
    expect(b.line(0).text).toBe('\x1b[32mdone');
    b.append('\x1b[33mwas yellow\rnow\n');
    expect(b.line(1)).toEqual({ text: 'now', start: expect.objectContaining({ fg: 3 }) });
  });

  it('tracks the widest line, escapes not counted', () => {
    const b = new LogBuffer();
    b.append('\x1b[31m12345\x1b[0m\nabc\n');
    expect(b.maxWidth).toBe(5);
  });

  it('bumps its version on every change and empties on clear', () => {
    const b = new LogBuffer();
    const v = b.version;
    b.append('x\n');
    expect(b.version).toBeGreaterThan(v);
    b.clear();
    expect(b.length).toBe(0);
    expect(b.line(0).text).toBe('');
  });

  it('takes 100,000 coloured lines in chunks and gives back each one', () => {
    const b = new LogBuffer();
    const lineOf = (i: number) => `\x1b[2m01:02:03\x1b[0m \x1b[34mCC\x1b[0m src/file_${i}.o`;
    const chunk = Array.from({ length: 1000 }, (_, i) => lineOf(i)).join('\n') + '\n';
    for (let i = 0; i < 100; i++) b.append(chunk);
    expect(b.length).toBe(100_000);
    expect(b.line(0).text).toBe(lineOf(0));
    expect(b.line(99_999).text).toBe(lineOf(999));
  });
});
