import type { AuthProblem } from '../net/auth.ts';

/** Without a working token nothing else can load: say so, and say how to get one. */
export function AuthPage({ problem }: { problem: Exclude<AuthProblem, null> }) {
  const origin = window.location.origin;
  return (
    <div className="authpage">
      <div className="authcard" role="alert">
        <h1>{problem === 'missing' ? 'No access token' : 'Access token refused (401)'}</h1>
        {problem === 'missing' ? (
          <p>This page needs the token that <code>slipway server</code> prints when it starts.</p>
        ) : (
          <p>The server did not accept this tab's token: it may have been revoked, or the server
            was restarted with a new one.</p>
        )}
        <p>Open the address the server printed, which carries the token after a <code>#</code>:</p>
        <pre className="authurl">{origin}/#token=…</pre>
        <p className="muted">The token is read from the address once, kept for this tab only, and
          removed from the address bar. Lost the address? <code>slipway server</code> prints it when it
          starts; or ask an admin for a token.</p>
        {problem === 'refused' && (
          <button type="button" className="btn" onClick={() => window.location.reload()}>Try again</button>
        )}
      </div>
    </div>
  );
}
