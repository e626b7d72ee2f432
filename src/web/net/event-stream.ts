import { authHeaders, reportRefused } from './auth.ts';
import { SseParser, type SseMessage } from '../lib/sse.ts';

export type StreamState = 'connecting' | 'open' | 'retrying' | 'closed';

export interface StreamOptions {
  url: string;
  onMessage: (m: SseMessage) => void;
  onState?: (s: StreamState) => void;
  /** Called once per successful connection, before its first message. */
  onOpen?: () => void;
  /** Reconnect when the stream ends or fails, resuming with Last-Event-ID. */
  reconnect: boolean;
  lastEventId?: string;
}

/**
 * Server-sent events over fetch, because EventSource cannot send the Authorization
 * header. Reconnects like EventSource does (with the last id, after the server's `retry`
 * or a growing delay), except after a 401: that needs a person, not a retry.
 * Returns a function that closes the stream for good.
 */
export function openStream(opts: StreamOptions): () => void {
  const abort = new AbortController();
  let lastId = opts.lastEventId ?? '';
  let failures = 0;
  let serverRetry: number | undefined;

  const run = async (): Promise<void> => {
    while (!abort.signal.aborted) {
      opts.onState?.(failures === 0 ? 'connecting' : 'retrying');
      let opened = false;
      try {
        const headers: Record<string, string> = { ...authHeaders(), Accept: 'text/event-stream' };
        if (lastId !== '') headers['Last-Event-ID'] = lastId;
        const res = await fetch(opts.url, { headers, signal: abort.signal, cache: 'no-store' });
        if (res.status === 401) {
          reportRefused();
          opts.onState?.('closed');
          return;
        }
        if (!res.ok || !res.body) throw new Error(`${res.status} ${res.statusText}`);
        opened = true;
        failures = 0;
        opts.onState?.('open');
        opts.onOpen?.();
        const parser = new SseParser();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          for (const m of parser.feed(value)) {
            lastId = m.id;
            opts.onMessage(m);
            if (abort.signal.aborted) return;
          }
          if (parser.retry !== undefined) serverRetry = parser.retry;
        }
      } catch {
        // A dropped connection or a server error: both end in a reconnect below.
        if (abort.signal.aborted) return;
      }
      if (!opts.reconnect) {
        opts.onState?.('closed');
        return;
      }
      if (!opened) failures++;
      const delay = serverRetry ?? Math.min(15_000, 1000 * 2 ** Math.min(failures, 4));
      opts.onState?.('retrying');
      await sleep(delay, abort.signal);
    }
  };
  void run();
  return () => abort.abort();
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = window.setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { window.clearTimeout(t); resolve(); }, { once: true });
  });
}
