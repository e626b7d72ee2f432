/** What a user token may do. Each scope includes the ones before it. */
export const scopes = ['read', 'submit', 'admin'] as const;
export type Scope = (typeof scopes)[number];

export function isScope(value: string): value is Scope {
  return (scopes as readonly string[]).includes(value);
}

/** Whether a token with `held` scopes may use a route that needs `needed`. */
export function allows(held: readonly Scope[], needed: Scope): boolean {
  const rank = scopes.indexOf(needed);
  return held.some((scope) => scopes.indexOf(scope) >= rank);
}
