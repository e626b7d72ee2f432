/** Telling script files from inline scripts, and checking that the files are there. */
import path from 'node:path';
import { resolveInside } from '../util/inside.ts';
import type { Script } from './types.ts';

/**
 * One word that looks like a path (`scripts/x`, `./configure`, `build.sh`) names a file;
 * anything else (`make`, several lines) is run as it is.
 */
export function toScript(text: string): Script {
  const word = text.trim();
  const isFile = !/\s/.test(word) && (word.includes('/') || /\.(sh|bash|py)$/.test(word));
  return isFile ? { kind: 'file', path: path.posix.normalize(word) } : { kind: 'inline', text };
}

/**
 * Why the file script `script` cannot run from `sourceDir` (absolute), or undefined if it
 * can. A link may point anywhere inside the tree; one that leads out is refused without
 * looking where it leads, so the message says nothing about the machine's other files.
 */
export function scriptFileProblem(script: Extract<Script, { kind: 'file' }>, sourceDir: string): string | undefined {
  const relative = script.path;
  if (path.posix.isAbsolute(relative)) {
    return `script path ${relative} must be relative to the source tree (the directory holding the pipeline file)`;
  }
  if (relative === '..' || relative.startsWith('../')) return `script path ${relative} leads outside the source tree`;
  const found = resolveInside(sourceDir, relative);
  if (found.kind === 'outside') return `script file ${relative} is a link that leads outside the source tree`;
  if (found.kind === 'missing') return `script file ${relative} not found in ${sourceDir}`;
  if (!found.stats.isFile()) return `script ${relative} is not a regular file`;
  return undefined;
}
