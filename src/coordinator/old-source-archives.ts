import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { idPatterns } from '../util/ids.ts';
import { sourceArchive, type SourceStore } from './source-archive.ts';

/**
 * A state directory written before source archives were blobs keeps them as
 * sources/<digest>.tar.gz: each is taken into the blob store (renamed into a files store,
 * uploaded to a bucket), so the runs that name them still find them. Their digest was
 * their sha256 then too, so it stays the run's source_digest. Returns how many moved.
 */
export async function moveOldArchives(sources: SourceStore): Promise<number> {
  if (!existsSync(sources.dir)) return 0;
  let moved = 0;
  for (const name of readdirSync(sources.dir)) {
    const digest = name.endsWith('.tar.gz') ? name.slice(0, -'.tar.gz'.length) : '';
    if (!idPatterns.digest.test(digest)) continue;
    await sources.blobs.adopt(join(sources.dir, name), `${sourceArchive} ${digest}`);
    moved += 1;
  }
  return moved;
}
