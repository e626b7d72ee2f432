/** Collects the mistakes found in one file, then throws them all at once. */
import { PipelineError, type Diagnostic } from './errors.ts';
import { MAX_COLLECTED, MAX_DIAGNOSTICS } from './limits.ts';
import { formatPath, type Locator, type Path, type Position } from './positions.ts';

export class Diagnostics {
  #file: string;
  #locator: Locator;
  #found: Diagnostic[] = [];

  constructor(file: string, locator: Locator) {
    this.#file = file;
    this.#locator = locator;
  }

  at(position: Position, message: string): void {
    this.#found.push({ file: this.#file, line: position.line, column: position.column, message });
  }

  /** A mistake in the value at `path`, which prefixes the message. */
  value(path: Path, message: string): void {
    this.at(this.#locator.value(path), prefixed(path, message));
  }

  /**
   * A mistake in the key of `path`, or a key missing there. The message is prefixed with
   * `label`: the path itself, or the mapping's when the message names the key.
   */
  key(path: Path, message: string, label: Path = path): void {
    this.at(this.#locator.key(path), prefixed(label, message));
  }

  /** Enough found that checking further is wasted work (only the first are shown). */
  get full(): boolean {
    return this.#found.length >= MAX_COLLECTED;
  }

  throwIfAny(): void {
    if (this.#found.length === 0) return;
    const sorted = this.#found.toSorted((a, b) => a.line - b.line || a.column - b.column);
    if (sorted.length > MAX_DIAGNOSTICS) {
      const first = sorted[MAX_DIAGNOSTICS]!;
      sorted.length = MAX_DIAGNOSTICS;
      sorted.push({ ...first, message: 'too many mistakes; the rest are not shown' });
    }
    throw new PipelineError(sorted);
  }
}

function prefixed(label: Path, message: string): string {
  return label.length === 0 ? message : `${formatPath(label)}: ${message}`;
}
