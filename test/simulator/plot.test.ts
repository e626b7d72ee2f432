import { describe, expect, it } from 'vitest';
import type { SimulationFigures } from '../../src/simulator/figures.ts';
import { downsample, plotPointLimit, plotSvg } from '../../src/simulator/plot.ts';
import type { Sample, SimulationRecord } from '../../src/simulator/simulation.ts';

const minute = 60_000;

function record(samples: Sample[]): SimulationRecord {
  return { tasks: [], machines: [], samples, peakWorkers: Math.max(0, ...samples.map((s) => s.live)), endedAt: samples.at(-1)?.at ?? 0, runMs: 1234 };
}

const figures: SimulationFigures = {
  tasks: 120, workers_started: 17, busy_hours: 10, billed_hours: 14.3, billed_over_busy: 1.43, cost_usd: 1.43,
  wait_s: { p50: 0, p95: 5.25, p99: 12, mean: 0.8 }, peak_workers: 9, simulated_hours: 3, run_seconds: 1.2, hours: [],
};

/** Three hours, one sample a minute: live climbs to 9 in the second hour, busy under it, a queue of 13 at minute 70. */
const hand = record(Array.from({ length: 181 }, (_, i) => ({
  at: i * minute,
  live: i >= 60 && i < 120 ? 9 : 2,
  busy: i >= 60 && i < 120 ? 6 : 1,
  queued: i === 70 ? 13 : 0,
})));

/** Each series' path data, by series. */
function paths(svg: string): Record<string, string> {
  return Object.fromEntries([...svg.matchAll(/<path class="series" data-series="(\w+)" d="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
}

/** The points of a step path: its start, then one `H x V y` a later sample. */
function points(d: string): number {
  return 1 + (d.match(/H-?[\d.]+V-?[\d.]+/g)?.length ?? 0);
}

function yTicks(svg: string): number[] {
  return [...svg.matchAll(/<text class="y-tick"[^>]*>([^<]*)</g)].map((m) => Number(m[1]));
}

describe('plotSvg', () => {
  it('is one self-contained SVG document: no scripts, nothing fetched', () => {
    const svg = plotSvg(hand, figures, 'day.jsonl');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toMatch(/<svg[^>]* width="1000" height="420"/);
    expect(svg).not.toMatch(/<script|href=|url\(|@import|@font-face/i);
    // Tags balance: every element opened is closed or self-closing.
    const opened = [...svg.matchAll(/<(\w+)[^>]*?(\/?)>/g)].filter((m) => m[2] !== '/').map((m) => m[1]);
    const closed = [...svg.matchAll(/<\/(\w+)>/g)].map((m) => m[1]);
    expect(opened.sort()).toEqual(closed.sort());
  });

  it('draws live, busy and queued as one step path each, a point a sample, live filled', () => {
    const svg = plotSvg(hand, figures, 'day.jsonl');
    const d = paths(svg);
    expect(Object.keys(d)).toEqual(['live', 'busy', 'queued']);
    for (const key of ['live', 'busy', 'queued']) expect(points(d[key]!)).toBe(181);
    expect(svg).toMatch(/data-series="live" d="[^"]*Z" fill="#[0-9a-f]{6}"/);
    expect(svg).toMatch(/data-series="busy" d="[^"]*" fill="none"/);
    expect(svg).toMatch(/data-series="queued" d="[^"]*" fill="none"/);
    // Coordinates to one decimal at most.
    for (const path of Object.values(d)) for (const number of path.match(/-?[\d.]+/g)!) expect(number).toMatch(/^-?\d+(\.\d)?$/);
  });

  it('has a legend naming the three series, and the headline figures in its title line', () => {
    const svg = plotSvg(hand, figures, 'day.jsonl');
    const legend = /<g class="legend">([\s\S]*?)<\/g>/.exec(svg)![1]!;
    for (const name of ['live', 'busy', 'queued']) expect(legend).toContain(name);
    const title = /<text class="title"[^>]*>([\s\S]*?)<\/text>/.exec(svg)![1]!;
    expect(title).toContain('day.jsonl');
    expect(title).toContain('billed/busy 1.43');
    expect(title).toContain('p95 wait 5.3 s');
    expect(title).toContain('17 workers started');
    expect(title).toContain('$1.43');
  });

  it('escapes the title', () => {
    const svg = plotSvg(hand, figures, `a<&>"b'.jsonl`);
    expect(svg).toContain('a&lt;&amp;&gt;&quot;b&apos;.jsonl');
    expect(svg).not.toContain('a<&>');
  });

  it('puts the top y tick at or over the largest value, on round steps', () => {
    const ticks = yTicks(plotSvg(hand, figures, 'day.jsonl'));
    expect(ticks[0]).toBe(0);
    expect(Math.max(...ticks)).toBeGreaterThanOrEqual(13);
    const step = ticks[1]! - ticks[0]!;
    expect([1, 2, 5, 10, 20, 50]).toContain(step);
    ticks.forEach((tick, i) => expect(tick).toBe(i * step));

    const big = yTicks(plotSvg(record([{ at: 0, live: 437, busy: 400, queued: 12 }, { at: minute, live: 0, busy: 0, queued: 0 }]), figures, 't'));
    expect(Math.max(...big)).toBeGreaterThanOrEqual(437);
    expect(big.length).toBeLessThanOrEqual(12);
  });

  it('ticks the x axis each hour, or less often on a long trace', () => {
    const xTicks = (svg: string) => [...svg.matchAll(/<text class="x-tick"[^>]*>([^<]*)</g)].map((m) => Number(m[1]));
    expect(xTicks(plotSvg(hand, figures, 't'))).toEqual([0, 1, 2, 3]);
    const day = record(Array.from({ length: 25 * 60 }, (_, i) => ({ at: i * minute, live: 1, busy: 1, queued: 0 })));
    expect(xTicks(plotSvg(day, figures, 't'))).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24]);
    expect(plotSvg(day, figures, 't')).toContain('hours since the trace start');
    const short = record(Array.from({ length: 31 }, (_, i) => ({ at: i * minute, live: 1, busy: 1, queued: 0 })));
    expect(xTicks(plotSvg(short, figures, 't'))).toEqual([0, 5, 10, 15, 20, 25, 30]);
    expect(plotSvg(short, figures, 't')).toContain('minutes since the trace start');
  });

  it('keeps a one-sample spike among 10,000 samples when it merges them', () => {
    const samples = Array.from({ length: 10_000 }, (_, i) => ({ at: i * minute, live: 3, busy: 2, queued: i === 7777 ? 500 : 1 }));
    samples[4321]!.live = 250;
    const merged = downsample(samples);
    expect(merged.length).toBeLessThanOrEqual(plotPointLimit);
    expect(Math.max(...merged.map((s) => s.queued))).toBe(500);
    expect(Math.max(...merged.map((s) => s.live))).toBe(250);
    expect(merged[0]!.at).toBe(0);

    const svg = plotSvg(record(samples), figures, 't');
    const d = paths(svg);
    for (const key of ['live', 'busy', 'queued']) expect(points(d[key]!)).toBe(merged.length);
    expect(Math.max(...yTicks(svg))).toBeGreaterThanOrEqual(500);
    // The queued line reaches the top tick's height scaled to 500: its highest point (least y) is the spike's.
    const ys = [...d.queued!.matchAll(/V(-?[\d.]+)/g)].map((m) => Number(m[1]));
    expect(ys.filter((y) => y === Math.min(...ys))).toHaveLength(1);
    expect(svg.length).toBeLessThan(200_000);
  });

  it('draws an empty record without failing', () => {
    const svg = plotSvg(record([]), figures, 'empty');
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(Object.keys(paths(svg))).toEqual(['live', 'busy', 'queued']);
  });
});
