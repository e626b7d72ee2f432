import { request } from './api.ts';

/**
 * A plain link cannot carry the bearer token, so a raw log or an artifact is fetched with
 * it and handed to the browser as a blob download.
 */
export async function downloadWithToken(path: string, filename: string): Promise<void> {
  const res = await request(path, { headers: { Accept: 'text/plain' } });
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  // Revoking at once can cancel the download in some browsers.
  window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
