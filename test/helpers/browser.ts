import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/**
 * Browser tests drive Debian's Chromium (scripts/setup-test-deps.sh installs it);
 * playwright-core never downloads a browser of its own.
 */
export const chromiumPath = '/usr/bin/chromium';

const chromiumArgs = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath, args: chromiumArgs });
}

/** One tab of the web UI, in a context of its own (its own sessionStorage, so its own token). */
export interface UiTab {
  page: Page;
  context: BrowserContext;
  /** Uncaught exceptions in the page: a UI that throws is broken even when it looks right. */
  errors: string[];
  close(): Promise<void>;
}

/**
 * Opens `path` (`/runs/r-…`, `/workers`) of the UI at `base` with `token` in the URL
 * fragment, the way the server's printed link hands it over.
 */
export async function openUi(
  browser: Browser, base: string, path: string, token: string,
  viewport: { width: number; height: number } = { width: 1400, height: 900 },
): Promise<UiTab> {
  const context = await browser.newContext({ viewport, reducedMotion: 'reduce' });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  // Anything the page's Content-Security-Policy blocked is a bug of the UI or of the policy.
  page.on('console', (message) => { if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) errors.push(message.text()); });
  await page.goto(`${base}${path}#token=${encodeURIComponent(token)}`);
  return { page, context, errors, close: () => context.close() };
}

/**
 * Reads `read()` every `intervalMs` until `done(value)` holds, and returns the values seen,
 * each run of equal values once (by JSON): the UI's states in the order it showed them.
 */
export async function observe<T>(
  read: () => Promise<T>, done: (value: T) => boolean,
  { timeoutMs, intervalMs = 100, what }: { timeoutMs: number; intervalMs?: number; what: string },
): Promise<T[]> {
  const seen: T[] = [];
  let last = '';
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    const key = JSON.stringify(value);
    if (key !== last) {
      seen.push(value);
      last = key;
    }
    if (done(value)) return seen;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; saw ${JSON.stringify(seen)}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
