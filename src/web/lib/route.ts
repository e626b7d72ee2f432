/**
 * The UI's addresses. Everything a person would want to link to — a filtered list, a
 * task's log at an attempt, a worker — is in the URL, so a link pasted in a chat opens
 * the same view.
 */
export type Route =
  | { page: 'runs'; status: string; pipeline: string; revision?: string; branch?: string }
  | { page: 'run'; run: string; task: string | null; attempt: number | null }
  | { page: 'workers'; run: string; worker: string | null }
  | { page: 'missing'; path: string };

export function parseRoute(pathname: string, search: string): Route {
  const q = new URLSearchParams(search);
  const path = pathname.replace(/\/+$/, '') || '/';
  if (path === '/') return { page: 'runs', status: q.get('status') ?? '', pipeline: q.get('pipeline') ?? '', revision: q.get('revision') ?? '', branch: q.get('branch') ?? '' };
  const run = /^\/runs\/([^/]+)$/.exec(path);
  if (run) {
    const attempt = Number.parseInt(q.get('attempt') ?? '', 10);
    return {
      page: 'run',
      run: safeDecode(run[1]!),
      task: q.get('task') || null,
      attempt: Number.isInteger(attempt) && attempt > 0 ? attempt : null,
    };
  }
  // An empty parameter (`?worker=`) selects nothing, rather than an item with no name.
  if (path === '/workers') return { page: 'workers', run: q.get('run') ?? '', worker: q.get('worker') || null };
  return { page: 'missing', path: pathname };
}

export function href(route: Route): string {
  switch (route.page) {
    case 'runs':
      return withQuery('/', { status: route.status, pipeline: route.pipeline, revision: route.revision ?? '', branch: route.branch ?? '' });
    case 'run':
      return withQuery(`/runs/${encodeURIComponent(route.run)}`, {
        task: route.task ?? '', attempt: route.attempt === null ? '' : String(route.attempt),
      });
    case 'workers':
      return withQuery('/workers', { run: route.run, worker: route.worker ?? '' });
    case 'missing':
      return route.path;
  }
}

export function runHref(run: string, task: string | null = null, attempt: number | null = null): string {
  return href({ page: 'run', run, task, attempt });
}

function withQuery(path: string, params: Record<string, string>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '') q.set(k, v);
  const s = q.toString();
  return s === '' ? path : `${path}?${s}`;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
