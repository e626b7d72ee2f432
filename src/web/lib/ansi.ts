/**
 * ANSI escape handling for logs. Only SGR colours and weights survive (they carry meaning:
 * red errors, green passes); every other escape — cursor moves, OSC titles and links,
 * charset switches — is dropped, since a log is not a terminal and replaying them would
 * garble it.
 */

/** `fg`/`bg` index the 16-colour palette: 0–7 normal, 8–15 bright; null is the default. */
export interface SgrState {
  readonly fg: number | null;
  readonly bg: number | null;
  readonly bold: boolean;
  readonly dim: boolean;
  readonly italic: boolean;
  readonly underline: boolean;
}

export interface Span {
  text: string;
  style: SgrState;
}

export const PLAIN: SgrState = Object.freeze({
  fg: null, bg: null, bold: false, dim: false, italic: false, underline: false,
});

const ESC = 0x1b;

export function isPlain(s: SgrState): boolean {
  return s.fg === null && s.bg === null && !s.bold && !s.dim && !s.italic && !s.underline;
}

export function sameStyle(a: SgrState, b: SgrState): boolean {
  return a === b || (a.fg === b.fg && a.bg === b.bg && a.bold === b.bold && a.dim === b.dim
    && a.italic === b.italic && a.underline === b.underline);
}

/** Applies one SGR parameter list (`ESC [ params m`) to a state. */
export function applySgr(state: SgrState, params: string): SgrState {
  // Sub-parameters (`38:5:196`) are a single parameter; `;` separates parameters.
  const parts = params === '' ? ['0'] : params.split(';');
  const next = { ...state };
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const colon = part.indexOf(':');
    const code = part === '' ? 0 : Number.parseInt(colon >= 0 ? part.slice(0, colon) : part, 10);
    if (Number.isNaN(code)) continue;
    if (code === 0) Object.assign(next, PLAIN);
    else if (code === 1) next.bold = true;
    else if (code === 2) next.dim = true;
    else if (code === 3) next.italic = true;
    else if (code === 4) next.underline = true;
    else if (code === 22) { next.bold = false; next.dim = false; }
    else if (code === 23) next.italic = false;
    else if (code === 24) next.underline = false;
    else if (code >= 30 && code <= 37) next.fg = code - 30;
    else if (code >= 90 && code <= 97) next.fg = code - 90 + 8;
    else if (code === 39) next.fg = null;
    else if (code >= 40 && code <= 47) next.bg = code - 40;
    else if (code >= 100 && code <= 107) next.bg = code - 100 + 8;
    else if (code === 49) next.bg = null;
    else if (code === 38 || code === 48 || code === 58) {
      // Extended colours: their arguments must be consumed, or `38;5;1` would read as
      // "bold" after the 5. The first 16 of the 256 palette map onto ours; the rest are dropped.
      let kind: number;
      let index: number | undefined;
      if (colon >= 0) {
        const sub = part.split(':');
        kind = Number(sub[1]);
        index = kind === 5 ? Number(sub[2]) : undefined;
      } else {
        kind = Number(parts[i + 1]);
        if (kind === 5) { index = Number(parts[i + 2]); i += 2; }
        else if (kind === 2) i += 4;
        else i += 1;
      }
      if (index !== undefined && index >= 0 && index < 16 && code !== 58) {
        if (code === 38) next.fg = index;
        else next.bg = index;
      }
    }
  }
  return sameStyle(next, state) ? state : (isPlain(next) ? PLAIN : Object.freeze(next));
}

/**
 * Splits one line into styled spans, starting from the style the previous line left
 * (colours carry across newlines in a terminal, and so in a log). Returns the style at
 * the end for the next line.
 */
export function parseAnsi(line: string, start: SgrState = PLAIN): { spans: Span[]; end: SgrState } {
  const spans: Span[] = [];
  let style = start;
  let text = '';
  const n = line.length;
  let i = 0;
  let from = 0;

  const flush = (to: number): void => {
    if (to > from) text += line.slice(from, to);
  };
  const emit = (): void => {
    if (text === '') return;
    const last = spans[spans.length - 1];
    if (last && sameStyle(last.style, style)) last.text += text;
    else spans.push({ text, style });
    text = '';
  };

  while (i < n) {
    const c = line.charCodeAt(i);
    if (c === ESC) {
      flush(i);
      const next = line[i + 1];
      if (next === '[') {
        let j = i + 2;
        while (j < n && isParam(line.charCodeAt(j))) j++;
        const params = line.slice(i + 2, j);
        const paramsEnd = j;
        while (j < n && isIntermediate(line.charCodeAt(j))) j++;
        if (j < n && isFinal(line.charCodeAt(j))) {
          if (line[j] === 'm' && paramsEnd === j && /^[0-9;:]*$/.test(params)) {
            const changed = applySgr(style, params);
            if (changed !== style) { emit(); style = changed; }
          }
          j++;
        }
        i = j;
      } else if (next === ']' || next === 'P' || next === 'X' || next === '^' || next === '_') {
        // String sequences (OSC titles and hyperlinks, DCS …) end with BEL or ESC \.
        let j = i + 2;
        while (j < n) {
          const d = line.charCodeAt(j);
          if (d === 0x07) { j++; break; }
          if (d === ESC && line[j + 1] === '\\') { j += 2; break; }
          j++;
        }
        i = j;
      } else if (next === '(' || next === ')' || next === '*' || next === '+') {
        i += 3; // charset designation: ESC ( B
      } else {
        i += next === undefined ? 1 : 2;
      }
      from = i;
    } else if ((c < 0x20 && c !== 0x09) || c === 0x7f) {
      flush(i);
      i++;
      from = i;
    } else {
      i++;
    }
  }
  flush(n);
  emit();
  return { spans, end: style };
}

/** The style at the end of a line, without building spans (the fast path for ingesting logs). */
export function endStyle(line: string, start: SgrState): SgrState {
  if (line.indexOf('\x1b') < 0) return start;
  return parseAnsi(line, start).end;
}

export function stripAnsi(line: string): string {
  if (line.indexOf('\x1b') < 0 && !/[\x00-\x08\x0a-\x1f\x7f]/.test(line)) return line;
  return parseAnsi(line).spans.map((s) => s.text).join('');
}

/** CSS classes for a style; the palette lives in the stylesheet so dark mode can remap it. */
export function styleClass(s: SgrState): string {
  if (s === PLAIN) return '';
  const out: string[] = [];
  if (s.fg !== null) out.push(`af${s.fg}`);
  if (s.bg !== null) out.push(`ab${s.bg}`);
  if (s.bold) out.push('a-b');
  if (s.dim) out.push('a-d');
  if (s.italic) out.push('a-i');
  if (s.underline) out.push('a-u');
  return out.join(' ');
}

function isParam(c: number): boolean {
  return c >= 0x30 && c <= 0x3f;
}
function isIntermediate(c: number): boolean {
  return c >= 0x20 && c <= 0x2f;
}
function isFinal(c: number): boolean {
  return c >= 0x40 && c <= 0x7e;
}
