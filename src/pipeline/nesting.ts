/**
 * How large a pipeline's YAML is, measured before the yaml library parses it: how deep it
 * nests, how many entries one list or mapping holds, and how many values the file holds.
 * The parser takes time that grows with the square of the depth (a 1 MiB file of `[` or of
 * `- ` held the event loop for three to six seconds) and about a second per hundred
 * thousand values (a one-line list of half a million took five, then overflowed the stack
 * of the schema check), while a pipeline nests a few levels deep and holds a few thousand
 * values. One pass over the library's own lexer, which takes linear time and knows
 * quoting, comments and block scalars, so nothing inside a string or a script is counted;
 * it stops at the first value past a limit.
 */
import { CST, Lexer } from 'yaml';
import { MAX_ENTRIES, MAX_NESTING, MAX_VALUES } from './limits.ts';
import type { Position } from './positions.ts';

/** Tokens the lexer adds that are not in the text: the start of a document, a flow cut short, and the mark before each scalar. */
const MARKS = new Set(['\x02', '\x18']);
const SCALAR_MARK = '\x1f';

export type SizeProblem = Position & { message: string };

/** An open collection: how many entries it has, and whether it is a list. */
interface Open {
  entries: number;
  list: boolean;
}

function tooManyEntries(open: Open, at: Position): SizeProblem | undefined {
  if (open.entries <= MAX_ENTRIES) return undefined;
  const what = open.list ? 'list' : 'mapping';
  return { ...at, message: `this ${what} has more than ${MAX_ENTRIES.toLocaleString('en-US')} entries, the most one list or mapping may have` };
}

/**
 * Where `text` first goes past a limit, and which, or undefined: deeper than MAX_NESTING,
 * more than MAX_ENTRIES in one list or mapping, more than MAX_VALUES in all (an alias
 * counts as one here; load.ts counts what it stands for once aliases are known).
 *
 * Flow collections count as they open and close, their entries by the values that start
 * them (first, or after a comma); block collections by their columns, as YAML reads them:
 * a value further right than the open one is inside it, one at its column is its next
 * entry. A scalar counts as a level of its own.
 */
export function sizeProblem(text: string): SizeProblem | undefined {
  let offset = 0;
  let line = 1;
  let lineStart = 0;
  /** Nothing but indentation yet on this line. */
  let atLineStart = true;
  let flow = 0;
  /** Columns of the block collections open here, innermost last, and their entries. */
  const block: number[] = [];
  const blockOpen: Open[] = [];
  /** The flow collections open here, innermost last, and whether the next value starts an entry. */
  const flowOpen: (Open & { expecting: boolean })[] = [];
  let values = 0;
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
    const type = scalarNext ? 'scalar' : CST.tokenType(token);
    let node = false;
    if (scalarNext) {
      // A block scalar's text belongs to its header, already counted.
      node = !blockScalarContent;
      scalarNext = false;
      blockScalarContent = false;
    } else {
      switch (type) {
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
          break;
        case 'flow-map-end':
        case 'flow-seq-end':
          flow = Math.max(0, flow - 1);
          flowOpen.pop();
          break;
        case 'comma':
          if (flowOpen.length > 0) flowOpen.at(-1)!.expecting = true;
          break;
        case 'doc-start':
          block.length = 0;
          blockOpen.length = 0;
          break;
      }
    }
    const at = { line, column: column + 1 };
    if (node && inBlock) {
      while (block.length > 0 && block.at(-1)! > column) {
        block.pop();
        blockOpen.pop();
      }
      if (block.at(-1) === column) {
        const open = blockOpen.at(-1)!;
        open.entries++;
        const problem = tooManyEntries(open, at);
        if (problem) return problem;
      } else {
        block.push(column);
        blockOpen.push({ entries: 1, list: type === 'seq-item-ind' });
      }
    } else if (node && flowOpen.at(-1)?.expecting) {
      const open = flowOpen.at(-1)!;
      open.expecting = false;
      open.entries++;
      const problem = tooManyEntries(open, at);
      if (problem) return problem;
    }
    if (type === 'flow-map-start' || type === 'flow-seq-start') {
      flow++;
      flowOpen.push({ entries: 0, list: type === 'flow-seq-start', expecting: true });
    }
    if (block.length + flow > MAX_NESTING) return { ...at, message: `the YAML nests deeper than ${MAX_NESTING} levels` };
    // `- `, `? ` and `: ` start an entry rather than hold a value: the value after them counts.
    if (node && type !== 'seq-item-ind' && type !== 'explicit-key-ind' && type !== 'map-value-ind' && ++values > MAX_VALUES) {
      return { ...at, message: `the file holds more than ${MAX_VALUES.toLocaleString('en-US')} values, the most a pipeline file may hold` };
    }

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
