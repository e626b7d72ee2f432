import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent, type ReactNode } from 'react';
import { parseRoute, type Route } from '../lib/route.ts';

/** Client-side routing on the History API: pushState plus one event that views listen to. */
const NAVIGATE = 'slipway:navigate';

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (to === window.location.pathname + window.location.search) return;
  if (opts.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  window.dispatchEvent(new Event(NAVIGATE));
}

function subscribe(cb: () => void): () => void {
  window.addEventListener('popstate', cb);
  window.addEventListener(NAVIGATE, cb);
  return () => {
    window.removeEventListener('popstate', cb);
    window.removeEventListener(NAVIGATE, cb);
  };
}

const location = (): string => window.location.pathname + window.location.search;

export function useRoute(): Route {
  const loc = useSyncExternalStore(subscribe, location);
  const q = loc.indexOf('?');
  return parseRoute(q < 0 ? loc : loc.slice(0, q), q < 0 ? '' : loc.slice(q));
}

/** A real anchor (so middle-click and copy-link work) that navigates in place on a plain click. */
export function Link(props: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string; replace?: boolean; children?: ReactNode }) {
  const { replace, onClick, ...rest } = props;
  const click = (e: MouseEvent<HTMLAnchorElement>): void => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(props.href, { replace: replace ?? false });
  };
  return <a {...rest} onClick={click} />;
}
