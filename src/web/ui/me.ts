import { createContext, useContext } from 'react';
import type { Me } from '../lib/types.ts';

export const MeContext = createContext<Me | null>(null);

/** Who the token belongs to; null until known. */
export function useMe(): Me | null {
  return useContext(MeContext);
}

/** Actions show only for scopes that allow them, rather than failing with a 403 on click. */
export function canSubmit(me: Me | null): boolean {
  return me !== null && (me.scopes.includes('submit') || me.scopes.includes('admin'));
}
