/**
 * The agent as one ESM file that plain `node` runs: what bootstrapped hosts download, and
 * what local workers start (it loads in a third of the CPU the agent's TypeScript sources
 * take: 0.2 against 0.6 s per worker). Built by the coordinator when missing or older than
 * a source it was made from; `npm run build:agent` builds it ahead, e.g. into an image.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** The oldest Node the bundle is built for; a host's own node must be at least this. */
export const agentNodeMajor = 24;

/** Where the agent bundle is written, and the list of sources it was built from beside it. */
export const agentBundlePath = join(repoRoot, 'dist', 'agent', 'slipway-agent.mjs');
const inputsPath = `${agentBundlePath}.inputs.json`;

/**
 * Bundles the agent. The sources it was made from are listed beside it, so staleness is
 * judged by exactly the files esbuild read. Both files are written aside and renamed into
 * place: an agent starting meanwhile, or another process building the same bundle (test
 * files run side by side), never reads half of one. Readable by all, as the sources are:
 * a root server's workers run as users of their own.
 */
export async function buildAgentBundle(): Promise<void> {
  const dir = dirname(agentBundlePath);
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o755);
  }
  const result = await build({
    entryPoints: [join(repoRoot, 'src', 'agent', 'main.ts')],
    bundle: true, platform: 'node', format: 'esm', target: `node${agentNodeMajor}`,
    outfile: agentBundlePath, metafile: true, write: false, logLevel: 'warning', absWorkingDir: repoRoot,
  });
  const aside = `.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  for (const [path, contents] of [
    [agentBundlePath, result.outputFiles[0]!.contents],
    [inputsPath, `${JSON.stringify(Object.keys(result.metafile.inputs))}\n`],
  ] as const) {
    writeFileSync(`${path}${aside}`, contents);
    chmodSync(`${path}${aside}`, 0o644);
    renameSync(`${path}${aside}`, path);
  }
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

let building: Promise<void> | undefined;

/** The bundle's path, once it is up to date: built first when stale, one build at a time in this process. */
export async function freshAgentBundle(): Promise<string> {
  if (agentBundleStale()) {
    building ??= buildAgentBundle().finally(() => { building = undefined; });
    await building;
  }
  return agentBundlePath;
}
