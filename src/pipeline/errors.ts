/** A mistake in a pipeline file, at a 1-based line and column. */
export interface Diagnostic {
  file: string;
  line: number;
  column: number;
  message: string;
}

function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.column}: ${d.message}`;
}

/** Every mistake found in a pipeline file; `message` lists them one per line. */
export class PipelineError extends Error {
  diagnostics: Diagnostic[];

  constructor(diagnostics: Diagnostic[]) {
    super(diagnostics.map(formatDiagnostic).join('\n'));
    this.name = 'PipelineError';
    this.diagnostics = diagnostics;
  }
}
