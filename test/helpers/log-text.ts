import type { Logs } from '../../src/coordinator/logs.ts';

/** A log's text once its queued writes landed, wherever the store keeps logs; '' for one not written. */
export async function logText(logs: Logs, path: string): Promise<string> {
  await logs.close(path);
  return (await logs.read(path, 0, await logs.size(path))).toString('utf8');
}
