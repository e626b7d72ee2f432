/**
 * Which rows of a fixed-height list are on screen. With every row the same height the
 * answer is arithmetic: no measuring, so a 100,000-line log renders as fast as a short one.
 */
export function visibleRange(scrollTop: number, viewport: number, rowHeight: number, count: number, overscan = 20): { start: number; end: number } {
  if (count <= 0 || rowHeight <= 0) return { start: 0, end: 0 };
  const first = Math.floor(Math.max(0, scrollTop) / rowHeight);
  const last = Math.ceil((Math.max(0, scrollTop) + Math.max(0, viewport)) / rowHeight);
  return { start: Math.max(0, Math.min(count, first - overscan)), end: Math.min(count, last + overscan) };
}

/** Whether a scrolled box shows its end, with some slack for fractional pixels. */
export function atBottom(scrollTop: number, clientHeight: number, scrollHeight: number, slack = 4): boolean {
  return scrollTop + clientHeight >= scrollHeight - slack;
}
