import { useEffect, useMemo, useRef, useState } from 'react';
import { LogBuffer } from '../lib/log-buffer.ts';
import { openStream } from '../net/event-stream.ts';
import { errorMessage, isAbort, request } from '../net/api.ts';

export type LogState = 'loading' | 'streaming' | 'done' | 'interrupted' | 'error';

export interface LogHandle {
  buffer: LogBuffer;
  /** Changes at most once a frame while text arrives: the view's cue to redraw. */
  version: number;
  state: LogState;
  error: string | null;
}

/**
 * Text arrives far faster than a screen refreshes (100,000 lines in a few seconds), so
 * chunks go straight into the buffer and the view is told once per animation frame.
 */
function useFrameVersion(buffer: LogBuffer): [number, () => void] {
  const [version, setVersion] = useState(0);
  const frame = useRef(0);
  useEffect(() => () => cancelAnimationFrame(frame.current), []);
  const bump = (): void => {
    if (frame.current !== 0) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = 0;
      setVersion(buffer.version);
    });
  };
  return [version, bump];
}

/** An attempt's log over `log/stream`: everything so far, then live until `end`. */
export function useStreamedLog(url: string | null): LogHandle {
  const buffer = useMemo(() => new LogBuffer(), [url]);
  const [version, bump] = useFrameVersion(buffer);
  const [state, setState] = useState<LogState>('loading');
  useEffect(() => {
    if (url === null) return;
    setState('loading');
    let ended = false;
    const close = openStream({
      url,
      reconnect: false,
      onOpen: () => setState('streaming'),
      onState: (s) => {
        if (s === 'closed' && !ended) setState('interrupted');
      },
      onMessage: (m) => {
        if (m.event === 'log') {
          try {
            const { text } = JSON.parse(m.data) as { text: string };
            buffer.append(text);
            bump();
          } catch {
            // A chunk that is not the documented shape is skipped, not shown half-parsed.
          }
        } else if (m.event === 'end') {
          ended = true;
          setState('done');
          bump();
          close();
        }
      },
    });
    return close;
  }, [url, buffer]);
  return { buffer, version, state, error: null };
}

/** A whole log over plain GET (a worker's log, a finished attempt's), shown as it downloads. */
export function useFetchedLog(url: string | null, reload: number): LogHandle {
  const buffer = useMemo(() => new LogBuffer(), [url, reload]);
  const [version, bump] = useFrameVersion(buffer);
  const [state, setState] = useState<LogState>('loading');
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (url === null) return;
    const abort = new AbortController();
    setState('loading');
    setError(null);
    (async () => {
      const res = await request(url, { signal: abort.signal, headers: { Accept: 'text/plain' } });
      if (!res.body) {
        buffer.append(await res.text());
      } else {
        setState('streaming');
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          buffer.append(value);
          bump();
        }
      }
      bump();
      setState('done');
    })().catch((e: unknown) => {
      if (isAbort(e)) return;
      setError(errorMessage(e));
      setState('error');
    });
    return () => abort.abort();
  }, [url, buffer]);
  return { buffer, version, state, error };
}
