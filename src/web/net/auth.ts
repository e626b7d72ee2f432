import { tokenFromFragment } from '../lib/token.ts';

/**
 * The token lives in sessionStorage: it survives reloads and in-app navigation, and is
 * gone with the tab, like the server-printed URL it came from.
 */
const KEY = 'slipway.token';

export type AuthProblem = 'missing' | 'refused' | null;

let problem: AuthProblem = null;
const listeners = new Set<() => void>();

/** Takes `#token=…` out of the address bar (so it is not bookmarked or shared) and keeps it. */
export function bootToken(): void {
  const { token, rest } = tokenFromFragment(window.location.hash);
  if (token !== null) {
    sessionStorage.setItem(KEY, token);
    history.replaceState(history.state, '', window.location.pathname + window.location.search + rest);
  }
  problem = readToken() === null ? 'missing' : null;
}

export function readToken(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function authProblem(): AuthProblem {
  return problem;
}

/** Any 401 lands here: every view gives way to the page that says what to do. */
export function reportRefused(): void {
  if (problem === 'refused') return;
  problem = 'refused';
  for (const l of listeners) l();
}

export function subscribeAuth(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function authHeaders(): Record<string, string> {
  const token = readToken();
  return token === null ? {} : { Authorization: `Bearer ${token}` };
}
