/**
 * Where src/ may query the store, run by `npm test` beside check-imports: every query is in
 * a store module (src/store/) or an operation (src/coordinator/ops/), named for what it
 * reads or does, with its SQL next to that name. The routes (src/api/), the commands
 * (src/cli/) and the rest of src/coordinator/ call those functions and start no query of
 * their own, so a reader finds every query of a table in one place.
 *
 * A query starts with one of Kysely's builders called on a database or transaction
 * (`db.selectFrom(...)`, `trx.updateTable(...)`); each such call in those folders is a
 * problem, printed as file:line:col. Exits 1 when there is one.
 * Usage: node scripts/check-queries.ts [dir] (default src).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const sourceDir = resolve(repoRoot, process.argv[2] ?? 'src');

/** Kysely's methods that begin a query. */
const queryStarts = new Set(['selectFrom', 'selectNoFrom', 'insertInto', 'replaceInto', 'updateTable', 'deleteFrom', 'mergeInto']);

/** Folders whose files must not start a query, and the folders inside them that may. */
const checkedDirs = ['api', 'cli', 'coordinator'].map((name) => join(sourceDir, name));
const queryingDirs = [join(sourceDir, 'coordinator', 'ops')];


function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return queryingDirs.includes(path) ? [] : sourceFiles(path);
    return /\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** `line:col name` of every call of a query-starting method in the file. */
function queriesIn(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, file.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && queryStarts.has(node.expression.name.text)) {
      const { line, character } = source.getLineAndCharacterOfPosition(node.expression.name.getStart(source));
      found.push(`${line + 1}:${character + 1} ${node.expression.name.text}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const files = checkedDirs.flatMap(sourceFiles).sort();
/** From the folder that holds src/. */
const show = (file: string): string => relative(dirname(sourceDir), file);
const problems: string[] = [];

for (const file of files) {
  const name = show(file);
  for (const query of queriesIn(file)) {
    const [at, method] = query.split(' ');
    problems.push(`${name}:${at} calls ${method}: move the query to a store module (src/store/) or an operation (src/coordinator/ops/) and call that`);
  }
}
if (problems.length > 0) {
  process.stderr.write(`${problems.join('\n')}\n\ncheck-queries: ${problems.length} problem(s) in ${files.length} files of src/api, src/cli and src/coordinator\n`);
  process.exit(1);
}
process.stdout.write(`check-queries: ${files.length} files of src/api, src/cli and src/coordinator start no query of their own\n`);
