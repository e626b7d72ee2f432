/**
 * How deep a pipeline's YAML nests, measured before the yaml library parses it: its parser
 * takes time that grows with the square of the depth (a 1 MiB file of `[` or of `- ` held
 * the event loop for three to six seconds), while a pipeline nests a few levels deep. One
 * pass over the library's own lexer, which takes linear time and knows quoting, comments
 * and block scalars, so nothing inside a string or a script is counted.
 */
import { CST, Lexer } from 'yaml';
import { MAX_NESTING } from './limits.ts';
import type { Position } from './positions.ts';

/** Tokens the lexer adds that are not in the text: the start of a document, a flow cut short, and the mark before each scalar. */
const MARKS = new Set(['\x02', '\x18']);
const SCALAR_MARK = '\x1f';

/**
 * Where `text` first nests deeper than MAX_NESTING, or undefined. Flow collections count
 * as they open and close; block collections by their columns, as YAML reads them: an entry
 * further right than the open one is inside it. A scalar counts as a level of its own.
 */
export function tooDeep(text: string): Position | undefined {
  let offset = 0;
  let line = 1;
  let lineStart = 0;
  /** Nothing but indentation yet on this line. */
  let atLineStart = true;
  let flow = 0;
  /** Columns of the block collections open here, innermost last. */
  const block: number[] = [];
  let scalarNext = false;
  let blockScalarContent = false;

  for (const token of new Lexer().lex(text)) {
    if (MARKS.has(token)) continue;
    if (token === SCALAR_MARK) {
      scalarNext = true;
      continue;
    }
    const column = offset - lineStart;
    const inBlock = flow === 0;
    let node = false;
    if (scalarNext) {
      // A block scalar's text belongs to its header, already counted.
      node = !blockScalarContent;
      scalarNext = false;
      blockScalarContent = false;
    } else {
      switch (CST.tokenType(token)) {
        case 'seq-item-ind':
        case 'explicit-key-ind':
        case 'single-quoted-scalar':
        case 'double-quoted-scalar':
        case 'alias':
          node = true;
          break;
        case 'map-value-ind':
          // `key: value` is one entry, counted at its key; only `: value` under `? key` starts a line with it.
          node = atLineStart;
          break;
        case 'block-scalar-header':
          node = true;
          blockScalarContent = true;
          break;
        case 'flow-map-start':
        case 'flow-seq-start':
          node = true;
          flow++;
          break;
        case 'flow-map-end':
        case 'flow-seq-end':
          flow = Math.max(0, flow - 1);
          break;
        case 'doc-start':
          block.length = 0;
          break;
      }
    }
    if (node && inBlock) {
      while (block.length > 0 && block.at(-1)! > column) block.pop();
      if (block.at(-1) !== column) block.push(column);
    }
    if (block.length + flow > MAX_NESTING) return { line, column: column + 1 };

    const lastBreak = token.lastIndexOf('\n');
    if (lastBreak !== -1) {
      for (let i = token.indexOf('\n'); i !== -1; i = token.indexOf('\n', i + 1)) line++;
      lineStart = offset + lastBreak + 1;
      atLineStart = token.slice(lastBreak + 1).trim() === '';
    } else if (token.trim() !== '') {
      atLineStart = false;
    }
    offset += token.length;
  }
  return undefined;
}
