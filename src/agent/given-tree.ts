import { lchown, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Owner } from './drop-privileges.ts';

/** Gives `dir` and everything below it to `owner`; symbolic links are changed, never followed. */
export async function giveTree(dir: string, owner: Owner): Promise<void> {
  await lchown(dir, owner.uid, owner.gid);
  for (const entry of await readdir(dir, { recursive: true })) await lchown(join(dir, entry), owner.uid, owner.gid);
}
