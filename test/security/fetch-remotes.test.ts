import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MirrorRefusal } from '../../src/vcs/mirror-repo.ts';
import { checkRemote } from '../../src/vcs/remote.ts';
import { tempDir } from '../helpers/temp.ts';

describe('the remotes a server fetches from (run --repo)', () => {
  const dir = tempDir('slipway-remotes-');
  const allowed = join(dir.path, 'repos');
  mkdirSync(join(allowed, 'project'), { recursive: true });
  mkdirSync(join(dir.path, 'private'));
  // A link inside the allowed directory that leads out of it.
  symlinkSync(join(dir.path, 'private'), join(allowed, 'way-out'));
  afterAll(() => dir.remove());

  const refused = (url: string) => {
    try {
      checkRemote(url, [allowed]);
    } catch (error) {
      expect(error).toBeInstanceOf(MirrorRefusal);
      return (error as Error).message;
    }
    throw new Error(`${url} was allowed`);
  };

  it('takes git://, http(s)://, ssh:// and file:// inside [server] file_remotes', () => {
    for (const url of ['git://example.org/p.git', 'https://example.org/hg/p', 'http://127.0.0.1:8000/', 'ssh://ci@example.org:2222/srv/p.git']) {
      expect(checkRemote(url, [allowed])).toBe(new URL(url).href);
    }
    expect(checkRemote(`file://${allowed}/project`, [allowed])).toBe(`file://${allowed}/project`);
  });

  it('refuses transports that run commands, scp-like and unknown schemes', () => {
    expect(refused('ext::sh -c touch% /tmp/pwned')).toContain('not fetched');
    expect(refused('fd::3')).toContain('not fetched');
    expect(refused('example.org:p.git')).toContain('not fetched');
    expect(refused('ftp://example.org/p.git')).toContain('ftp remotes are not fetched');
    expect(refused('relative/path')).toContain('takes a file://');
  });

  it('refuses a host or user that ssh would read as an option', () => {
    expect(refused('ssh://-oProxyCommand=touch%20x@example.org/p')).toContain('not a URL a remote can have');
    expect(refused('ssh://-oProxyCommand=x/p')).toContain('not a URL a remote can have');
  });

  it('refuses file:// outside the allowed directories, a link leading out, and any file:// when none is allowed', () => {
    expect(refused(`file://${dir.path}/private`)).toContain('[server] file_remotes');
    expect(refused(`file://${allowed}/way-out`)).toContain('[server] file_remotes');
    expect(refused(`file://${allowed}/../private`)).toContain('[server] file_remotes');
    expect(() => checkRemote(`file://${allowed}/project`, [])).toThrow(/file_remotes names \(none\)/);
  });
});
