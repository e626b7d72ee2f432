import { useEffect, useState, useSyncExternalStore } from 'react';
import { authProblem, subscribeAuth } from './net/auth.ts';
import { api } from './net/api.ts';
import type { Me } from './lib/types.ts';
import { Link, useRoute } from './ui/navigation.tsx';
import { MeContext } from './ui/me.ts';
import { AuthPage } from './pages/auth-page.tsx';
import { RunsPage } from './pages/runs-page.tsx';
import { RunPage } from './pages/run-page.tsx';
import { WorkersPage } from './pages/workers-page.tsx';

export function App() {
  const problem = useSyncExternalStore(subscribeAuth, authProblem);
  const route = useRoute();
  const [me, setMe] = useState<Me | null>(null);

  useEffect(() => {
    if (problem !== null) return;
    const abort = new AbortController();
    api.me(abort.signal).then(setMe, () => {});
    return () => abort.abort();
  }, [problem]);

  useEffect(() => {
    document.title = route.page === 'run' ? `${route.run} · Slipway` : route.page === 'workers' ? 'Workers · Slipway' : 'Slipway';
  }, [route]);

  if (problem !== null) return <AuthPage problem={problem} />;

  return (
    <MeContext.Provider value={me}>
      <header className="topbar">
        <Link href="/" className="brand">
          <svg viewBox="0 0 16 16" width="16" height="16" aria-hidden>
            <path d="M1 12h14l-3 3H4z" fill="currentColor" />
            <path d="M8 1v9M8 2l5 7H8" stroke="currentColor" fill="none" strokeWidth="1.4" />
          </svg>
          Slipway
        </Link>
        <nav className="nav" aria-label="Main">
          <Link href="/" aria-current={route.page === 'runs' || route.page === 'run' ? 'page' : undefined}>Runs</Link>
          <Link href="/workers" aria-current={route.page === 'workers' ? 'page' : undefined}>Workers</Link>
        </nav>
        <span className="spacer" />
        {me && (
          <span className="who" title={`Token scopes: ${me.scopes.join(', ')}`}>
            {me.name} <span className="muted">· {me.scopes.join(', ')}</span>
          </span>
        )}
      </header>
      <main className={`main page-${route.page}`}>
        {route.page === 'runs' && <RunsPage status={route.status} pipeline={route.pipeline} revision={route.revision ?? ''} branch={route.branch ?? ''} />}
        {route.page === 'run' && <RunPage key={route.run} run={route.run} task={route.task} attempt={route.attempt} />}
        {route.page === 'workers' && <WorkersPage run={route.run} worker={route.worker} />}
        {route.page === 'missing' && (
          <div className="notfound">
            <h1>Nothing here</h1>
            <p>No page at <code>{route.path}</code>. <Link href="/">See the runs</Link>.</p>
          </div>
        )}
      </main>
    </MeContext.Provider>
  );
}
