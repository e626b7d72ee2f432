/**
 * The import rules of src/, run by `npm test` before the type check:
 *
 * 1. No import cycles. Every import counts: value and type-only imports, re-exports and
 *    dynamic `import()`. A type-only cycle costs nothing at run time, but it still says two
 *    modules are one module split in two, which is what this rule is about.
 * 2. The agent stays apart: nothing src/agent/ imports, directly or through other modules,
 *    is under src/coordinator, src/api, src/store or src/cli. The agent is bundled into one
 *    file for remote machines; the worker protocol's types are in src/protocol/.
 *
 * Prints each cycle as a path of files and exits 1 when a rule is broken.
 * Usage: node scripts/check-imports.ts [dir] (default src).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const sourceDir = resolve(repoRoot, process.argv[2] ?? 'src');

/** Folders under src/ whose code must not reach the agent's bundle. */
const agentDir = join(sourceDir, 'agent');
const keptFromAgent = ['coordinator', 'api', 'store', 'cli'].map((name) => join(sourceDir, name));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourceFiles(path);
    return /\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every module specifier a file names: imports, re-exports, `import()` and `import('x').T` types. */
function specifiers(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, file.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [argument] = node.arguments;
      if (argument && ts.isStringLiteralLike(argument)) found.push(argument.text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push(node.argument.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The file a relative specifier names, or undefined for packages and node: modules. */
function resolveSpecifier(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const base = resolve(dirname(from), specifier);
  for (const candidate of [base, `${base}.ts`, `${base}.tsx`, join(base, 'index.ts'), join(base, 'index.tsx')]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

const files = sourceFiles(sourceDir).sort();
const graph = new Map<string, string[]>();
for (const file of files) {
  const targets = new Set<string>();
  for (const specifier of specifiers(file)) {
    const target = resolveSpecifier(file, specifier);
    if (target !== undefined && /\.tsx?$/.test(target)) targets.add(target);
  }
  graph.set(file, [...targets].sort());
}

const show = (file: string): string => relative(repoRoot, file);
const problems: string[] = [];

// ---- cycles: Tarjan's strongly connected components, then a shortest cycle per file ----

function components(): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const found: string[][] = [];
  let next = 0;
  // Iterative, so a deep import chain cannot overflow the call stack.
  for (const root of files) {
    if (index.has(root)) continue;
    const work: { file: string; edge: number }[] = [{ file: root, edge: 0 }];
    index.set(root, next); low.set(root, next); next++; stack.push(root); onStack.add(root);
    while (work.length > 0) {
      const frame = work.at(-1)!;
      const targets = graph.get(frame.file) ?? [];
      if (frame.edge < targets.length) {
        const target = targets[frame.edge++]!;
        if (!index.has(target)) {
          index.set(target, next); low.set(target, next); next++; stack.push(target); onStack.add(target);
          work.push({ file: target, edge: 0 });
        } else if (onStack.has(target)) {
          low.set(frame.file, Math.min(low.get(frame.file)!, index.get(target)!));
        }
        continue;
      }
      work.pop();
      const parent = work.at(-1);
      if (parent) low.set(parent.file, Math.min(low.get(parent.file)!, low.get(frame.file)!));
      if (low.get(frame.file) === index.get(frame.file)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.file);
        if (component.length > 1 || graph.get(frame.file)!.includes(frame.file)) found.push(component.sort());
      }
    }
  }
  return found;
}

/** The shortest path of imports from `start` back to itself, inside one component. */
function shortestCycle(start: string, members: Set<string>): string[] {
  const cameFrom = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const file = queue[i]!;
    for (const target of graph.get(file)!) {
      if (!members.has(target)) continue;
      if (target === start) {
        const path = [start];
        for (let at = file; at !== start; at = cameFrom.get(at)!) path.unshift(at);
        return [start, ...path];
      }
      if (!cameFrom.has(target)) {
        cameFrom.set(target, file);
        queue.push(target);
      }
    }
  }
  return [start, start];
}

for (const component of components()) {
  const members = new Set(component);
  const covered = new Set<string>();
  const cycles: string[][] = [];
  for (const file of component) {
    if (covered.has(file)) continue;
    const cycle = shortestCycle(file, members);
    for (const member of cycle) covered.add(member);
    cycles.push(cycle);
  }
  const title = component.length === 1 ? 'a file imports itself' : `import cycle among ${component.length} files`;
  problems.push(`${title}:\n${cycles.map((cycle) => `  ${cycle.map(show).join('\n    -> ')}`).join('\n')}`);
}

// ---- the agent's reach -------------------------------------------------------------------

const reachedFrom = new Map<string, string>();
const queue = files.filter((file) => file.startsWith(`${agentDir}/`));
for (const file of queue) reachedFrom.set(file, '');
const keptOut = (file: string): boolean => keptFromAgent.some((dir) => file.startsWith(`${dir}/`));
for (let i = 0; i < queue.length; i++) {
  const file = queue[i]!;
  // One problem per forbidden file the agent's own imports lead to, not one per file behind it.
  if (keptOut(file)) continue;
  for (const target of graph.get(file)!) {
    if (reachedFrom.has(target)) continue;
    reachedFrom.set(target, file);
    queue.push(target);
  }
}
for (const file of queue) {
  if (!keptOut(file)) continue;
  const chain = [file];
  for (let at = reachedFrom.get(file)!; at !== ''; at = reachedFrom.get(at)!) chain.unshift(at);
  problems.push(`the agent reaches ${show(file)}, which must stay out of its bundle:\n  ${chain.map(show).join('\n    -> ')}`);
}

if (problems.length > 0) {
  process.stderr.write(`${problems.join('\n\n')}\n\ncheck-imports: ${problems.length} problem(s) in ${files.length} files\n`);
  process.exit(1);
}
process.stdout.write(`check-imports: ${files.length} files, no import cycles, the agent stays apart\n`);
