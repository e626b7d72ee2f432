import { PLAIN, endStyle, stripAnsi, type SgrState } from './ansi.ts';

/**
 * A log as it arrives: chunks cut anywhere (mid-line, mid-escape) become lines, each
 * with the style the lines before it left in force. Lines keep their raw text and are
 * styled only when shown, so ingesting 100,000 lines costs one scan each, not a tree of
 * spans each.
 */
export class LogBuffer {
  private readonly texts: string[] = [];
  private readonly starts: SgrState[] = [];
  private partial = '';
  private style: SgrState = PLAIN;
  /** Bumped on every change, so a view can tell cheaply whether to redraw. */
  version = 0;
  /** The widest line, in characters, so a view can size its horizontal scroll once. */
  maxWidth = 0;

  get length(): number {
    return this.texts.length + (this.partial === '' ? 0 : 1);
  }

  /** Complete lines only: the partial last line may still grow. */
  get completeLines(): number {
    return this.texts.length;
  }

  append(chunk: string): void {
    if (chunk === '') return;
    let from = 0;
    for (let nl = chunk.indexOf('\n'); nl >= 0; nl = chunk.indexOf('\n', from)) {
      const line = this.partial + chunk.slice(from, nl);
      this.partial = '';
      this.push(line);
      from = nl + 1;
    }
    this.partial += chunk.slice(from);
    if (this.partial !== '') this.measure(this.partial);
    this.version++;
  }

  clear(): void {
    this.texts.length = 0;
    this.starts.length = 0;
    this.partial = '';
    this.style = PLAIN;
    this.maxWidth = 0;
    this.version++;
  }

  /** Line `i`'s text as it should be shown, and the style in force where it starts. */
  line(i: number): { text: string; start: SgrState } {
    if (i < this.texts.length) return { text: this.texts[i]!, start: this.starts[i]! };
    if (i === this.texts.length && this.partial !== '') return overwritten(this.partial, this.style);
    return { text: '', start: PLAIN };
  }

  /** A line without its escapes, for searching. */
  plainLine(i: number): string {
    return stripAnsi(this.line(i).text);
  }

  private push(raw: string): void {
    const { text, start } = overwritten(raw, this.style);
    this.texts.push(text);
    this.starts.push(start);
    this.style = endStyle(text, start);
    this.measure(text);
  }

  private measure(text: string): void {
    // Raw length over-counts escapes; stripping every line to measure would double the
    // ingest cost, and an over-wide scroll area is harmless.
    if (text.length > this.maxWidth) {
      this.maxWidth = text.indexOf('\x1b') < 0 ? text.length : Math.max(this.maxWidth, stripAnsi(text).length);
    }
  }
}

/**
 * A carriage return (progress bars, `\r\n` endings) rewinds to the line's start in a
 * terminal: what was written before the last one is overwritten, so only what follows it
 * is shown — but its colour codes still count.
 */
function overwritten(raw: string, style: SgrState): { text: string; start: SgrState } {
  let line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  const cr = line.lastIndexOf('\r');
  if (cr < 0) return { text: line, start: style };
  const start = endStyle(line.slice(0, cr), style);
  line = line.slice(cr + 1);
  return { text: line, start };
}
