import { describe, expect, it } from 'vitest';
import { atBottom, visibleRange } from '../../src/web/lib/virtual-range.ts';

describe('visibleRange', () => {
  it('covers the viewport plus the overscan on both sides, within bounds', () => {
    expect(visibleRange(0, 180, 18, 100_000, 5)).toEqual({ start: 0, end: 15 });
    expect(visibleRange(18 * 1000, 180, 18, 100_000, 5)).toEqual({ start: 995, end: 1015 });
    expect(visibleRange(18 * 99_995, 180, 18, 100_000, 5)).toEqual({ start: 99_990, end: 100_000 });
  });

  it('is empty for an empty list and tolerates overscroll', () => {
    expect(visibleRange(0, 500, 18, 0)).toEqual({ start: 0, end: 0 });
    expect(visibleRange(-40, 36, 18, 10, 0)).toEqual({ start: 0, end: 2 });
  });
});

describe('atBottom', () => {
  it('allows a little slack for fractional scroll positions', () => {
    expect(atBottom(820, 180, 1000)).toBe(true);
    expect(atBottom(817.5, 180, 1000)).toBe(true);
    expect(atBottom(700, 180, 1000)).toBe(false);
  });
});
