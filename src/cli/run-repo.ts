import type { Selection } from '../pipeline/types.ts';
import type { ApiClient } from './api-client.ts';
import { printable } from './format.ts';
import { watchRemoteRun, type SubmitOptions } from './run-remote.ts';
import { fetchOnServer } from './send-revision.ts';
import { UsageError } from './usage-error.ts';

/**
 * `slipway run FILE --server URL --repo REMOTE --revision REV`: the server fetches REV from
 * the remote repository into its mirror and runs the pipeline FILE of that revision; this
 * machine needs neither the repository nor the pipeline file.
 */
export async function runFromRepo(
  api: ApiClient, file: string, repo: string, name: string, selection: Selection, options: SubmitOptions,
): Promise<number> {
  // The file is a path in the remote revision's tree, as the server reads it.
  const inTree = file.replace(/^(\.\/)+/, '');
  if (inTree.startsWith('/') || inTree.split('/').includes('..')) throw new UsageError(`with --repo, ${file} must be a path inside the repository, such as slipway.yml or ci/slipway.yml`);
  const fetched = await fetchOnServer(api, repo, name);
  process.stderr.write(`${printable(`${api.origin} fetched ${name} (${fetched.revision.slice(0, 12)}) from ${repo}`)}\n`);
  const { run } = await api.json<{ run: { id: string; pipeline: string } }>('POST', '/api/v1/runs', {
    source: fetched.source, file: inTree, label: inTree, selection, fake_workers: options.fakeWorkers,
    ...(options.budgetUsd !== undefined && { budget_usd: options.budgetUsd }),
    origin: {
      vcs: fetched.vcs, repository: repo, revision: fetched.revision, branch: /^[0-9a-f]{40,64}$/.test(name) ? null : name,
      base: null, author: fetched.author ?? null, message: fetched.message ?? null, try: false,
    },
  });
  return watchRemoteRun(api, run.id, run.pipeline, options.json, 0);
}
