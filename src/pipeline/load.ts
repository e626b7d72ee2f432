/** Reading a pipeline file: YAML, then its shape, then everything that refers across it. */
import path from 'node:path';
import { LineCounter, parseDocument, type Document, type ErrorCode } from 'yaml';
import { Anchors } from './anchors.ts';
import { assemble } from './assemble.ts';
import { checkPipeline } from './checks.ts';
import { checkAliases, checkDuplicateKeys } from './document.ts';
import { Diagnostics } from './diagnostics.ts';
import { PipelineError } from './errors.ts';
import { reportIssues } from './issues.ts';
import { MAX_ALIAS_COUNT, MAX_FILE_BYTES } from './limits.ts';
import { sizeProblem } from './nesting.ts';
import { Locator, START } from './positions.ts';
import { pipelineSchema } from './schema.ts';
import type { Pipeline, PipelineRules } from './types.ts';
import { readSmallFile, UnreadableFile } from '../util/small-file.ts';

/** The yaml library's messages that speak to its own users rather than to ours. */
const REWORDED: Partial<Record<ErrorCode, string>> = {
  MULTIPLE_DOCS: "a pipeline file holds one YAML document; another starts here after '---'",
  RESOURCE_EXHAUSTION: 'the YAML nests too deeply',
};

const TOO_LARGE = `the file is larger than ${MAX_FILE_BYTES / 1024 / 1024} MiB`;

/**
 * Reads and checks `file`; throws PipelineError listing every mistake found. `rules` name
 * the operator's pools an activity may name (none by default) and whether it may define its
 * own. `label` names the file in messages and Pipeline.file when it is read from a copy
 * (a revision's export).
 */
export function loadPipeline(file: string, rules: PipelineRules = {}, label = file): Pipeline {
  let text: string;
  try {
    text = readSmallFile(file, MAX_FILE_BYTES);
  } catch (error) {
    if (!(error instanceof UnreadableFile)) throw error;
    throw new PipelineError([{ file: label, ...START, message: `cannot read the pipeline file: ${error.message}` }]);
  }
  return parsePipeline(text, label, path.dirname(path.resolve(file)), rules);
}

/**
 * Checks pipeline `text`. `file` names it in messages and, resolved against the working
 * directory, becomes Pipeline.file; script files are looked up in `sourceDir`; `rules` as
 * for loadPipeline.
 */
export function parsePipeline(text: string, file: string, sourceDir: string, rules: PipelineRules = {}): Pipeline {
  if (Buffer.byteLength(text, 'utf8') > MAX_FILE_BYTES) {
    throw new PipelineError([{ file, ...START, message: TOO_LARGE }]);
  }
  // Before parsing: the parser's time grows with depth and size, and a check of too much data overflows the stack.
  const tooLarge = sizeProblem(text);
  if (tooLarge) throw new PipelineError([{ file, ...tooLarge }]);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, merge: true, uniqueKeys: false });
  const anchors = new Anchors(doc);
  const locator = new Locator(doc, lines, anchors);
  const report = new Diagnostics(file, locator);
  for (const problem of [...doc.errors, ...doc.warnings]) {
    report.at(locator.offset(problem.pos[0]), REWORDED[problem.code] ?? problem.message);
  }
  if (doc.errors.length > 0) report.throwIfAny();
  checkDuplicateKeys(doc, report, locator);
  if (!checkAliases(doc, anchors, report, locator)) report.throwIfAny();

  const data = toData(doc, anchors, report, locator);
  report.throwIfAny();
  const shape = pipelineSchema.safeParse(data);
  if (!shape.success) reportIssues(shape.error.issues, pipelineSchema, data, report, locator);
  const absoluteSourceDir = path.resolve(sourceDir);
  checkPipeline(data, report, absoluteSourceDir, rules);
  report.throwIfAny();
  return assemble(shape.data!, path.resolve(file), absoluteSourceDir, locator, rules);
}

/** Plain data from `doc`, which checkAliases found free of alias trouble but for their count. */
function toData(doc: Document, anchors: Anchors, report: Diagnostics, locator: Locator): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    const alias = error instanceof ReferenceError ? anchors.aliases[0] : undefined;
    if (alias?.range) {
      const message = `aliases are used too often (more than ${MAX_ALIAS_COUNT} times, counting nested ones)`;
      report.at(locator.offset(alias.range[0]), message);
    } else {
      report.at(START, `cannot read the YAML: ${(error as Error).message}`);
    }
    return undefined;
  }
}
