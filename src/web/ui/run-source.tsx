import type { RunSource } from '../../engine/report.ts';
import { authorName } from '../../util/author-name.ts';
import { href } from '../lib/route.ts';
import { Mono } from './bits.tsx';
import { Link } from './navigation.tsx';

/**
 * Where a run's tree came from: its revision and branch (each a link to the runs of it),
 * author and message; a working tree or plain directory says so.
 */
export function RunSourceText({ source }: { source: RunSource }) {
  if (source.vcs === null) return <span className="muted" title={source.digest ? `sha256 ${source.digest}` : undefined}>directory</span>;
  const subject = source.message?.split('\n', 1)[0] ?? '';
  return (
    <span className="run-source" title={source.repository ?? undefined}>
      {source.revision
        ? <Link href={href({ page: 'runs', status: '', pipeline: '', revision: source.revision })} title={`Runs of ${source.revision}`}><Mono>{source.revision.slice(0, 12)}</Mono></Link>
        : <span className="muted">working tree</span>}
      {source.try && <span className="chip">try</span>}
      {source.branch && <Link className="branch" href={href({ page: 'runs', status: '', pipeline: '', branch: source.branch })} title={`Runs of ${source.branch}`}>{source.branch}</Link>}
      {source.author && <span className="author">{authorName(source.author)}</span>}
      {subject && <span className="message" title={source.message ?? undefined}>{subject}</span>}
    </span>
  );
}
