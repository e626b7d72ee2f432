/**
 * What a user token may do. `read`, `submit` and `admin` each include the ones before;
 * `worker` only registers hand-started workers (`slipway worker`) and reads nothing, so a
 * machine that serves runs holds no token that could submit one or read other runs.
 */
export const scopes = ['read', 'submit', 'admin', 'worker'] as const;
export type Scope = (typeof scopes)[number];

const ranked: readonly Scope[] = ['read', 'submit', 'admin'];

export function isScope(value: string): value is Scope {
  return (scopes as readonly string[]).includes(value);
}

/**
 * Whether a token with `held` scopes may use a route that needs `needed`. An admin may do
 * everything, registering workers included: it can create a worker token anyway.
 */
export function allows(held: readonly Scope[], needed: Scope): boolean {
  if (held.includes('admin')) return true;
  if (needed === 'worker') return held.includes('worker');
  const rank = ranked.indexOf(needed);
  return held.some((scope) => ranked.indexOf(scope) >= rank);
}
