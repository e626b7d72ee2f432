import { memo, useCallback, useEffect, useLayoutEffect, useRef, useState, type KeyboardEvent } from 'react';
import { parseAnsi, styleClass, type SgrState } from '../lib/ansi.ts';
import type { LogBuffer } from '../lib/log-buffer.ts';
import { atBottom, visibleRange } from '../lib/virtual-range.ts';

/** Must equal the stylesheet's `--log-line`: rows are placed by arithmetic, never measured. */
export const LINE_HEIGHT = 18;

interface Props {
  buffer: LogBuffer;
  version: number;
  /** Shown instead of the lines while there are none. */
  placeholder: string;
  label: string;
}

/**
 * A log of any length: only the lines in view (plus a margin) are in the DOM, at offsets
 * computed from the fixed line height. It follows the end while the reader is at the end,
 * and stops following the moment they scroll up, as a terminal's scrollback does.
 */
export function LogView({ buffer, version, placeholder, label }: Props) {
  const box = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewport, setViewport] = useState(600);
  const [follow, setFollow] = useState(true);
  const [query, setQuery] = useState('');
  const [hit, setHit] = useState<number | null>(null);
  const [miss, setMiss] = useState(false);
  const count = buffer.length;
  const total = count * LINE_HEIGHT;

  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    setViewport(el.clientHeight);
    const ro = new ResizeObserver(() => setViewport(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  // While following, the view is drawn at the end already, then the box is scrolled to
  // match: drawing from the stale offset first would flash a blank frame.
  const top = follow ? Math.max(0, total - viewport) : scrollTop;
  useLayoutEffect(() => {
    const el = box.current;
    if (el && follow && el.scrollTop !== top) el.scrollTop = top;
  }, [follow, top, version]);

  // Only a move up stops following: a scroll event that lands after more lines arrived
  // also reads "not at the bottom", but the reader did not leave it.
  const lastTop = useRef(0);
  const onScroll = useCallback(() => {
    const el = box.current;
    if (!el) return;
    const t = el.scrollTop;
    setScrollTop(t);
    if (atBottom(t, el.clientHeight, el.scrollHeight, LINE_HEIGHT / 2)) setFollow(true);
    else if (t < lastTop.current) setFollow(false);
    lastTop.current = t;
  }, []);

  const { start, end } = visibleRange(top, viewport, LINE_HEIGHT, count);
  const gutter = String(Math.max(count, 1)).length;

  const jumpTo = (line: number): void => {
    const el = box.current;
    if (!el) return;
    setFollow(false);
    el.scrollTop = Math.max(0, line * LINE_HEIGHT - el.clientHeight / 3);
    setScrollTop(el.scrollTop);
  };

  const find = (backwards: boolean): void => {
    const q = query.toLowerCase();
    if (q === '' || count === 0) return;
    const from = hit ?? (backwards ? count : start + Math.max(0, Math.floor(viewport / LINE_HEIGHT / 3)) - 1);
    for (let k = 1; k <= count; k++) {
      const i = (((backwards ? from - k : from + k) % count) + count) % count;
      if (buffer.plainLine(i).toLowerCase().includes(q)) {
        setHit(i);
        setMiss(false);
        jumpTo(i);
        return;
      }
    }
    setHit(null);
    setMiss(true);
  };

  const onFindKey = (e: KeyboardEvent<HTMLInputElement>): void => {
    if (e.key === 'Enter') {
      e.preventDefault();
      find(e.shiftKey);
    } else if (e.key === 'Escape') {
      setQuery('');
      setHit(null);
      setMiss(false);
    }
  };

  useEffect(() => {
    setHit(null);
    setMiss(false);
  }, [buffer]);

  const rows = [];
  for (let i = start; i < end; i++) {
    const { text, start: style } = buffer.line(i);
    rows.push(<LogLine key={i} n={i + 1} text={text} style={style} gutter={gutter} hit={i === hit} />);
  }

  return (
    <div className="logview">
      <div className="logbar">
        <span className="muted num">{count.toLocaleString()} {count === 1 ? 'line' : 'lines'}</span>
        <input
          className={`logfind${miss ? ' miss' : ''}`}
          type="search"
          placeholder="Find in log"
          title="Enter: next match, Shift+Enter: previous, Esc: clear"
          aria-label="Find in log"
          value={query}
          onChange={(e) => { setQuery(e.target.value); setHit(null); setMiss(false); }}
          onKeyDown={onFindKey}
        />
        {!follow && count > 0 && (
          <button type="button" className="btn small" onClick={() => { setHit(null); setFollow(true); }}>
            ↓ Follow end
          </button>
        )}
      </div>
      <div
        ref={box}
        className="log"
        tabIndex={0}
        role="log"
        aria-label={label}
        onScroll={onScroll}
      >
        {count === 0 ? (
          <div className="log-placeholder">{placeholder}</div>
        ) : (
          <div className="log-inner" style={{ height: total, minWidth: `calc(${gutter + buffer.maxWidth + 3}ch + 24px)` }}>
            <div style={{ transform: `translateY(${start * LINE_HEIGHT}px)` }}>{rows}</div>
          </div>
        )}
      </div>
    </div>
  );
}

const LogLine = memo(function LogLine({ n, text, style, gutter, hit }: { n: number; text: string; style: SgrState; gutter: number; hit: boolean }) {
  const { spans } = parseAnsi(text, style);
  return (
    <div className={`ll${hit ? ' hit' : ''}`}>
      <span className="ln" style={{ width: `${gutter}ch` }}>{n}</span>
      <span className="lt">
        {spans.map((s, i) => {
          const cls = styleClass(s.style);
          return cls === '' ? s.text : <span key={i} className={cls}>{s.text}</span>;
        })}
      </span>
    </div>
  );
});
