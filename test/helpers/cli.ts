import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killProcessesUnder } from './processes.ts';
import { tempDir } from './temp.ts';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(repoRoot, 'src/cli/main.ts');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A sandbox for CLI tests: its own state directory, a source tree, and the processes started in it. */
export class Sandbox {
  readonly dir = tempDir('slipway-e2e-');
  readonly state = join(this.dir.path, 'state');
  readonly config = join(this.dir.path, 'config');
  readonly source = join(this.dir.path, 'src');
  readonly children = new Set<ChildProcess>();

  /** A directory the tasks of every worker may write in, whatever uid a server runs them as. */
  sharedDir(name: string): string {
    const path = join(this.dir.path, name);
    mkdirSync(path);
    chmodSync(path, 0o1777);
    return path;
  }

  /** A server started as root runs its workers as other users, who must reach the work root in the state directory. */
  openStateToWorkers(): void {
    chmodSync(this.dir.path, 0o711);
    mkdirSync(this.state, { recursive: true });
    chmodSync(this.state, 0o711);
  }

  /** Writes files of the source tree; a `slipway.yml` among them is the pipeline. */
  write(files: Record<string, string>): string {
    for (const [name, text] of Object.entries(files)) {
      const path = join(this.source, name);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text, { mode: name.endsWith('.sh') ? 0o755 : 0o644 });
    }
    return join(this.source, 'slipway.yml');
  }

  env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    // Its own config directory too, so a developer's ~/.config/slipway cannot change a test.
    return { ...process.env, XDG_STATE_HOME: this.state, XDG_CONFIG_HOME: this.config, SLIPWAY_CONFIG: '', NO_COLOR: '1', SLIPWAY_COMMAND: 'slipway', ...extra };
  }

  /** The CLI with `args`, run in `cwd` (the sandbox's directory unless said: a working copy for `slipway try`), as `user` if given. */
  spawn(args: string[], extra: NodeJS.ProcessEnv = {}, cwd = this.dir.path, user?: { uid: number; gid: number }): ChildProcess & { result: Promise<CliResult> } {
    if (args[0] === 'server') this.openStateToWorkers();
    const child = spawn(process.execPath, [cli, ...args], { cwd, env: this.env(extra), stdio: ['ignore', 'pipe', 'pipe'], ...user });
    this.children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const result = new Promise<CliResult>((resolve) => {
      child.on('close', (code) => { this.children.delete(child); resolve({ code, stdout, stderr }); });
    });
    return Object.assign(child, { result });
  }

  run(args: string[], extra: NodeJS.ProcessEnv = {}, cwd?: string): Promise<CliResult> {
    return this.spawn(args, extra, cwd).result;
  }

  /**
   * Stops anything still running (by pid), then removes the sandbox: its commands, and what
   * they left running in it (the agents of a server's run that a failed test left unfinished).
   */
  cleanup(): void {
    for (const child of this.children) child.kill('SIGKILL');
    killProcessesUnder(this.dir.path);
    this.dir.remove();
  }
}
