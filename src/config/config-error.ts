import type { Diagnostic } from '../pipeline/errors.ts';

/** A config file Slipway cannot use: exit code 2, each mistake as `file:line:column: message`. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }

  static at(diagnostics: readonly Diagnostic[]): ConfigError {
    const sorted = diagnostics.toSorted((a, b) => a.line - b.line || a.column - b.column);
    return new ConfigError(sorted.map((d) => `${d.file}:${d.line}:${d.column}: ${d.message}`).join('\n'));
  }
}
