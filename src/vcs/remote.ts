/** Remote repositories a server may fetch from, and which VCS serves one. */
import { existsSync, realpathSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runVcs, type Vcs } from './command.ts';
import { MirrorRefusal } from './mirror-repo.ts';

const schemes = ['file:', 'ssh:', 'http:', 'https:', 'git:'];

/**
 * `url` when the server may fetch from it: file://, ssh://, http(s):// or git:// only (no
 * scp-like `host:path`, no transport that runs a command), no host or user that would read
 * as an option, and a file:// repository only inside one of `fileRemotes`, so a submit
 * token cannot read a repository of the server's user it was not meant to.
 */
export function checkRemote(url: string, fileRemotes: readonly string[]): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MirrorRefusal(`--repo takes a file://, ssh://, http(s):// or git:// URL, not '${url.slice(0, 200)}'`);
  }
  if (!schemes.includes(parsed.protocol)) throw new MirrorRefusal(`--repo ${url.slice(0, 200)}: ${parsed.protocol.slice(0, -1)} remotes are not fetched; use file://, ssh://, http(s):// or git://`);
  if (/[\0-\x20]/.test(url) || parsed.hostname.startsWith('-') || decodeURIComponent(parsed.username).startsWith('-')) {
    throw new MirrorRefusal(`--repo ${url.slice(0, 200)}: not a URL a remote can have`);
  }
  if (parsed.protocol === 'file:') {
    const path = fileURLToPath(parsed);
    const real = existsSync(path) ? realpathSync(path) : path;
    if (!fileRemotes.some((dir) => isInside(realpathOr(dir), real))) {
      throw new MirrorRefusal(`--repo ${url.slice(0, 200)}: this server fetches file:// remotes only from the directories [server] file_remotes names (${fileRemotes.length ? fileRemotes.join(', ') : 'none'})`);
    }
  }
  return parsed.href;
}

/** Which VCS serves `url`: git:// and a file:// git repository are git's; elsewhere git is asked first, then hg. */
export async function remoteVcs(url: string): Promise<Vcs> {
  const parsed = new URL(url);
  if (parsed.protocol === 'git:') return 'git';
  if (parsed.protocol === 'file:') return existsSync(join(fileURLToPath(parsed), '.hg')) ? 'hg' : 'git';
  const asked: string[] = [];
  for (const vcs of ['git', 'hg'] as const) {
    try {
      await runVcs(vcs, '/', vcs === 'git' ? ['ls-remote', '--exit-code', '--heads', '--end-of-options', url] : ['identify', '--', url], { env: { GIT_ALLOW_PROTOCOL: 'file:git:http:https:ssh', HGRCPATH: '' } });
      return vcs;
    } catch (error) {
      asked.push((error as Error).message);
    }
  }
  throw new MirrorRefusal(`neither git nor hg can read ${url}: ${asked.join('; ')}`);
}

function realpathOr(path: string): string {
  return existsSync(path) ? realpathSync(path) : path;
}

function isInside(dir: string, path: string): boolean {
  const rest = relative(dir, path);
  return rest === '' || (!rest.startsWith('..') && !isAbsolute(rest));
}
