/**
 * What can be checked of a PowerShell script without PowerShell (there is none here): it
 * is ASCII, every string, ( ) { } [ ] and $( ) subexpression closes where it should, and no
 * double-quoted string holds `$name:` (PowerShell reads that as a scope- or drive-qualified
 * variable, so "$file: x" expands to nothing; `${file}:` is meant). Not a parser: a script
 * that passes can still be wrong.
 */
export function powershellShapeProblems(script: string): string[] {
  const problems: string[] = [];
  const nonAscii = [...script].findIndex((char) => char.charCodeAt(0) > 0x7e || (char < ' ' && char !== '\n'));
  if (nonAscii !== -1) problems.push(`not printable ASCII at offset ${nonAscii}`);
  const closers: Record<string, string> = { '(': ')', '{': '}', '[': ']' };
  // Each frame is code (waiting for a closing bracket) or a string (waiting for its quote).
  const stack: { open: string; line: number }[] = [];
  let line = 1;
  for (let i = 0; i < script.length; i++) {
    const char = script[i]!;
    if (char === '\n') line++;
    const top = stack.at(-1)?.open;
    if (top === "'") {
      if (char === "'" && script[i + 1] === "'") i++;
      else if (char === "'") stack.pop();
      continue;
    }
    if (top === '"') {
      if (char === '`') i++;
      else if (char === '"') stack.pop();
      else if (char === '$' && script[i + 1] === '(') {
        stack.push({ open: '(', line });
        i++;
      } else if (char === '$') {
        const qualified = /^\$([A-Za-z_]\w*):/.exec(script.slice(i));
        if (qualified && qualified[1]!.toLowerCase() !== 'env') problems.push(`line ${line}: "$${qualified[1]}:" in a string is a qualified variable name; write \${${qualified[1]}}:`);
      }
      continue;
    }
    if (char === '#') {
      const end = script.indexOf('\n', i);
      i = (end === -1 ? script.length : end) - 1;
    } else if (char === "'" || char === '"') {
      stack.push({ open: char, line });
    } else if (char in closers) {
      stack.push({ open: char, line });
    } else if (char === ')' || char === '}' || char === ']') {
      const opened = stack.pop();
      if (!opened || closers[opened.open] !== char) problems.push(`line ${line}: ${char} closes ${opened ? `${opened.open} of line ${opened.line}` : 'nothing'}`);
    }
  }
  for (const left of stack) problems.push(`line ${left.line}: ${left.open} is never closed`);
  return problems;
}
