import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, utimesSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect, it } from 'vitest';
import { agentBundlePath, agentBundleStale, buildAgentBundle, freshAgentBundle } from '../../src/providers/agent-bundle.ts';
import { repoRoot } from '../helpers/cli.ts';

it('is built again once a source it was made from is newer, before a worker starts from it', async () => {
  await freshAgentBundle();
  expect(agentBundleStale()).toBe(false);
  // Built a minute ago, and a source of it edited since (nothing is dated in the future).
  const minuteAgo = new Date(Date.now() - 60_000);
  utimesSync(agentBundlePath, minuteAgo, minuteAgo);
  const edited = new Date(minuteAgo.getTime() + 1000);
  utimesSync(join(repoRoot, 'src', 'agent', 'machine-marker.ts'), edited, edited);
  expect(agentBundleStale()).toBe(true);
  expect(await freshAgentBundle()).toBe(agentBundlePath);
  expect(agentBundleStale()).toBe(false);
  expect(statSync(agentBundlePath).mtimeMs).toBeGreaterThan(edited.getTime());
});

it('stays whole while several builds write it at once, and is readable by all', async () => {
  await Promise.all([buildAgentBundle(), buildAgentBundle(), buildAgentBundle()]);
  const ran = spawnSync(process.execPath, [agentBundlePath], { env: { PATH: process.env.PATH }, encoding: 'utf8' });
  expect(ran.status, ran.stderr).toBe(2);
  expect(ran.stderr).toMatch(/SLIPWAY_SERVER and SLIPWAY_WORK_DIR must be set/);
  expect(readdirSync(dirname(agentBundlePath)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  expect(statSync(agentBundlePath).mode & 0o777).toBe(0o644);
});
