/** Small text helpers shared by the CLI's renderers: durations, colours, tables. */
import { stripVTControlCharacters, styleText } from 'node:util';
import type { TaskStatus } from '../engine/report.ts';

export type Style = Parameters<typeof styleText>[0];

export { formatDuration } from '../util/duration-text.ts';

/** `version=1.0.0 config=debug`, in the matrix's own (the step's `over`) order, ready to print. */
export function formatMatrix(matrix: Record<string, string>): string {
  return printable(Object.entries(matrix).map(([axis, value]) => `${axis}=${value}`).join(' '));
}

/**
 * Whether a stream should get colours: never when NO_COLOR is set (no-color.org) or the
 * stream is not a terminal (CI logs and pipes must stay greppable), else what the
 * terminal says it supports.
 */
export function colorEnabled(
  stream: { isTTY?: boolean; hasColors?: (count?: number, env?: object) => boolean },
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  if (env['NO_COLOR']) return false;
  if (!stream.isTTY) return false;
  // Node's hasColors takes (env) or (count, env); an undefined count next to an env throws.
  return stream.hasColors?.(16, env) ?? true;
}

/** `text` in `style`, or untouched when colour is off. */
export function paint(color: boolean, style: Style, text: string): string {
  if (!color || text === '') return text;
  // The caller already decided about colour; styleText must not second-guess it
  // by looking at process.stdout.
  return styleText(style, text, { validateStream: false });
}

const STATUS_STYLE: Record<TaskStatus, Style> = {
  waiting: 'gray',
  checking: 'cyan',
  queued: 'gray',
  running: 'cyan',
  succeeded: 'green',
  failed: 'red',
  skipped: 'gray',
  blocked: 'yellow',
  cancelled: 'magenta',
};

/** A status word (or `text` about it) in the status's colour. Run statuses are task statuses too. */
export function paintStatus(color: boolean, status: TaskStatus, text: string = status): string {
  return paint(color, STATUS_STYLE[status], text);
}

export function countStatuses(statuses: Iterable<TaskStatus>): Record<TaskStatus, number> {
  const counts: Record<TaskStatus, number> = {
    waiting: 0, checking: 0, queued: 0, running: 0,
    succeeded: 0, failed: 0, skipped: 0, blocked: 0, cancelled: 0,
  };
  for (const status of statuses) counts[status]++;
  return counts;
}

/** Width on screen: escape sequences take none. */
export function visibleWidth(text: string): number {
  return [...stripVTControlCharacters(text)].length;
}

/**
 * Control characters (C0 with ESC and the line breaks, DEL, C1), and the Unicode ones that
 * reorder or break lines: any of them could move the cursor, clear the screen, or make a
 * task id or a name forge a line of output.
 */
const CONTROL = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` from a user, a pipeline or a script, safe to print on a terminal: each control
 * character written as its escape (`\x1b`, `\n`), so the reader sees what is there and the
 * terminal acts on none of it. With `lines`, line breaks (`\n`, `\r\n`) stay, for text made
 * of lines such as an error quoting a script's output (a Windows worker's too).
 */
export function printable(text: string, { lines = false }: { lines?: boolean } = {}): string {
  return (lines ? text.replaceAll('\r\n', '\n') : text).replace(CONTROL, (c) => {
    if (lines && c === '\n') return c;
    const code = c.charCodeAt(0);
    return NAMED[c] ?? (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}

const SGR = /(\x1b\[[0-9;]*m)/;

/** Cut `text` to `width` visible characters, ending in `…`, keeping its colour codes intact. */
export function truncate(text: string, width: number): string {
  if (visibleWidth(text) <= width) return text;
  if (width <= 0) return '';
  let out = '';
  let seen = 0;
  let styled = false;
  for (const part of text.split(SGR)) {
    if (SGR.test(part)) {
      // Keep every code, also after the cut, so styles opened before it are closed.
      out += part;
      styled = true;
      continue;
    }
    for (const ch of part) {
      if (seen >= width - 1) break;
      out += ch;
      seen++;
    }
  }
  return `${out}${styled ? '\x1b[0m' : ''}…`;
}

/** Columns aligned by visible width, two spaces apart, no trailing blanks. */
export function table(rows: string[][], header: string[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => visibleWidth(row[i] ?? ''))));
  return all
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - visibleWidth(cell))))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
