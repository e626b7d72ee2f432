import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { freshAgentBundle } from '../providers/agent-bundle.ts';

/** A file a bare host downloads, with the checksum it verifies. */
export interface ServedFile {
  path: string;
  size: number;
  sha256: string;
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

  constructor(options: AgentFileOptions = {}) {
    this.#windowsNode = options.windowsNode;
  }

  async agent(): Promise<ServedFile> {
    return this.#describe(await freshAgentBundle());
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
