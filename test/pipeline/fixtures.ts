/** Pipeline files written to a temporary source tree, and the mistakes found in them. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PipelineError } from '../../src/pipeline/errors.ts';
import { parsePipeline } from '../../src/pipeline/load.ts';
import type { Pipeline } from '../../src/pipeline/types.ts';

export class Fixtures {
  readonly root = mkdtempSync(join(tmpdir(), 'slipway-pipeline-'));
  #count = 0;

  /** A new source tree holding slipway.yml with `text`, and `files` as small scripts. */
  tree(text: string, files: string[] = []): string {
    const dir = join(this.root, String(this.#count++));
    mkdirSync(dir);
    writeFileSync(join(dir, 'slipway.yml'), text);
    for (const file of files) {
      mkdirSync(dirname(join(dir, file)), { recursive: true });
      writeFileSync(join(dir, file), '#!/usr/bin/env bash\ntrue\n');
    }
    return dir;
  }

  /** `text` parsed as slipway.yml in a new source tree holding `files`. */
  parse(text: string, files: string[] = []): Pipeline {
    return parsePipeline(text, 'slipway.yml', this.tree(text, files));
  }

  /** The `slipway.yml:line:column: message` lines `text` is rejected with. */
  mistakes(text: string, files: string[] = []): string[] {
    try {
      this.parse(text, files);
    } catch (error) {
      if (error instanceof PipelineError) return error.message.split('\n');
      throw error;
    }
    throw new Error('the pipeline was accepted');
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** A YAML text from its lines, so that a line's index plus one is its line number. */
export function yaml(...lines: string[]): string {
  return `${lines.join('\n')}\n`;
}

/** The example of DESIGN.md's "Pipeline file", every key included. */
export const DESIGN_EXAMPLE = yaml(
  'name: packages',
  'matrix:',
  '  version: ["4.28.2", "4.29.0"]',
  '  distro: [ubuntu-22.04, debian-12]',
  'activities:',
  '  builder:',
  '    provider: local',
  '    max_workers: 4',
  '    idle_timeout: 2m',
  '    init: scripts/mount-cache.sh',
  '    cleanup: scripts/unmount.sh',
  '    instance: { type: c5.9xlarge }',
  'steps:',
  '  build-source:',
  '    activity: builder',
  '    over: [version]',
  '    run: scripts/build-source.sh',
  '    done_if: scripts/has-source.sh',
  '    retry: { attempts: 3, delay: 1m, backoff: 5, max_delay: 30m }',
  '    timeout: 2h',
  '    env: { CHANNEL: stable }',
  '  build-binary:',
  '    activity: builder',
  '    needs: [build-source]',
  '    over: [version, distro]',
  '    exclude: [{ version: "4.28.2", distro: debian-12 }]',
  '    run: |',
  '      ./configure --version "$VERSION"',
  '      make package DISTRO="$DISTRO"',
);
export const DESIGN_SCRIPTS = ['scripts/mount-cache.sh', 'scripts/unmount.sh', 'scripts/build-source.sh', 'scripts/has-source.sh'];
