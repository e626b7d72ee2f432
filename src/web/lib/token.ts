/**
 * `slipway server` prints `http://HOST/#token=…`. The fragment never reaches the server
 * or a Referer header; the UI takes the token out of it on first load.
 */
export function tokenFromFragment(hash: string): { token: string | null; rest: string } {
  const raw = hash.startsWith('#') ? hash.slice(1) : hash;
  if (raw === '') return { token: null, rest: '' };
  const params = new URLSearchParams(raw);
  const token = params.get('token');
  if (token === null) return { token: null, rest: hash };
  params.delete('token');
  const rest = params.toString();
  return { token: token.trim() === '' ? null : token.trim(), rest: rest === '' ? '' : `#${rest}` };
}
