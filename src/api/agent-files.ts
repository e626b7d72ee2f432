import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** A file a bare host downloads, with the checksum it verifies. */
export interface ServedFile {
  path: string;
  size: number;
  sha256: string;
}

/** The oldest Node the bundle is built for; a host's own node must be at least this. */
export const agentNodeMajor = 24;

/** Where the agent bundle is written, and the list of sources it was built from beside it. */
export const agentBundlePath = join(repoRoot, 'dist', 'agent', 'slipway-agent.mjs');
const inputsPath = `${agentBundlePath}.inputs.json`;

/**
 * Bundles the agent into one ESM file that plain `node` runs. The sources it was made
 * from are listed beside it, so staleness is judged by exactly the files esbuild read.
 */
export async function buildAgentBundle(): Promise<void> {
  mkdirSync(dirname(agentBundlePath), { recursive: true });
  const result = await build({
    entryPoints: [join(repoRoot, 'src', 'agent', 'main.ts')],
    bundle: true, platform: 'node', format: 'esm', target: `node${agentNodeMajor}`,
    outfile: agentBundlePath, metafile: true, logLevel: 'warning', absWorkingDir: repoRoot,
  });
  writeFileSync(inputsPath, `${JSON.stringify(Object.keys(result.metafile.inputs))}\n`);
}

/** Whether the bundle is missing, or older than a source it was built from. */
export function agentBundleStale(): boolean {
  if (!existsSync(agentBundlePath) || !existsSync(inputsPath)) return true;
  const built = statSync(agentBundlePath).mtimeMs;
  const inputs = JSON.parse(readFileSync(inputsPath, 'utf8')) as string[];
  return inputs.some((input) => {
    const path = resolve(repoRoot, input);
    return !existsSync(path) || statSync(path).mtimeMs > built;
  });
}

export interface AgentFileOptions {
  /** A Windows node.exe to serve Windows hosts ([providers.ec2] windows_node, absolute). */
  windowsNode?: string;
}

/**
 * The files a bootstrapped host needs from the coordinator: the agent bundle (rebuilt
 * when its sources changed), the node executable this coordinator runs on, and a Windows
 * node.exe when one is configured. Checksums are kept while the file's size and mtime stay
 * the same: node is a 100 MB file.
 */
export class AgentFiles {
  readonly #sums = new Map<string, { key: string; sha256: string }>();
  readonly #windowsNode: string | undefined;
  #building: Promise<void> | undefined;

  constructor(options: AgentFileOptions = {}) {
    this.#windowsNode = options.windowsNode;
  }

  async agent(): Promise<ServedFile> {
    // One build at a time: concurrent first downloads wait for the same one.
    if (agentBundleStale()) {
      this.#building ??= buildAgentBundle().finally(() => { this.#building = undefined; });
      await this.#building;
    }
    return this.#describe(agentBundlePath);
  }

  async runtime(): Promise<ServedFile> {
    return this.#describe(process.execPath);
  }

  /** The configured Windows node.exe, or undefined when there is none. */
  async windowsRuntime(): Promise<ServedFile | undefined> {
    const path = this.#windowsNode;
    if (path === undefined) return undefined;
    try {
      return await this.#describe(path);
    } catch (error) {
      throw new Error(`[providers.ec2] windows_node cannot be read: ${(error as Error).message}`);
    }
  }

  async #describe(path: string): Promise<ServedFile> {
    const { size, mtimeMs } = statSync(path);
    const key = `${size}:${mtimeMs}`;
    const known = this.#sums.get(path);
    if (known?.key === key) return { path, size, sha256: known.sha256 };
    const sha256 = await sha256Of(path);
    this.#sums.set(path, { key, sha256 });
    return { path, size, sha256 };
  }
}

function sha256Of(path: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const hash = createHash('sha256');
    createReadStream(path).on('data', (chunk) => hash.update(chunk)).on('error', reject)
      .on('end', () => resolvePromise(hash.digest('hex')));
  });
}
