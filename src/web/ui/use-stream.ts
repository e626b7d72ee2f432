import { useEffect, useRef, useState } from 'react';
import { openStream, type StreamState } from '../net/event-stream.ts';
import type { RunEvent } from '../lib/types.ts';

/**
 * Follows `GET /api/v1/events` while the view is shown. The handler may change between
 * renders without reconnecting; `onOpen` fires on every (re)connection, where a view
 * refetches what it may have missed while disconnected.
 */
export function useRunEvents(url: string | null, onEvent: (e: RunEvent) => void, onOpen?: () => void): StreamState {
  const [state, setState] = useState<StreamState>('connecting');
  const handler = useRef(onEvent);
  const opened = useRef(onOpen);
  handler.current = onEvent;
  opened.current = onOpen;
  useEffect(() => {
    if (url === null) return;
    return openStream({
      url,
      reconnect: true,
      onState: setState,
      onOpen: () => opened.current?.(),
      onMessage: (m) => {
        if (m.event !== 'run-event' && m.event !== 'message') return;
        try {
          handler.current(JSON.parse(m.data) as RunEvent);
        } catch {
          // A malformed event is dropped; the next refetch covers for it.
        }
      },
    });
  }, [url]);
  return state;
}
