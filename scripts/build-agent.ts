/**
 * Bundles the agent into dist/agent/slipway-agent.mjs, one file that plain `node` runs.
 * The coordinator does the same by itself when the bundle is missing or stale; this is
 * for building it ahead, e.g. into a machine image.
 */
import { agentBundlePath, buildAgentBundle } from '../src/providers/agent-bundle.ts';

await buildAgentBundle();
process.stdout.write(`${agentBundlePath}\n`);
