import type { SimulationFigures } from './figures.ts';
import type { Sample, SimulationRecord } from './simulation.ts';

/*
 * `slipway simulate --plot FILE.svg`: live (billed) workers, busy workers and queued tasks
 * over the simulated time, so a person sees where the money goes: the shaded area above the
 * busy line is machines billed while idle. A self-contained SVG: no scripts, no fonts or
 * other resources to fetch.
 */

const width = 1000;
const height = 420;
const plotArea = { left: 64, right: width - 24, top: 64, bottom: height - 44 };

/** At most this many points a series: more samples are merged, each bucket at its maxima. */
export const plotPointLimit = 2000;

const series = [
  { key: 'live', name: 'live (billed machines)', stroke: '#4a90c8', fill: '#d6e8f7' },
  { key: 'busy', name: 'busy workers', stroke: '#1a3f66', fill: 'none' },
  { key: 'queued', name: 'queued tasks', stroke: '#d9622b', fill: 'none' },
] as const;

const minuteMs = 60_000;
const hourMs = 3_600_000;
/** The x axis's tick steps: the least that keeps the ticks to 15 at most, in hours from two hours on. */
const minuteSteps = [1, 2, 5, 10, 15, 30].map((m) => m * minuteMs);
const hourSteps = [1, 2, 4, 6, 12, 24, 48, 168].map((h) => h * hourMs);

/**
 * The samples, merged into at most `limit` buckets of consecutive samples when there are more:
 * each bucket at its first sample's time, with the largest live, busy and queued in it, so a
 * peak of a single sample stays in the plot.
 */
export function downsample(samples: readonly Sample[], limit = plotPointLimit): Sample[] {
  if (samples.length <= limit) return [...samples];
  const size = Math.ceil(samples.length / limit);
  const buckets: Sample[] = [];
  for (let i = 0; i < samples.length; i += size) {
    const bucket = samples.slice(i, i + size);
    buckets.push({
      at: bucket[0]!.at,
      live: Math.max(...bucket.map((s) => s.live)),
      busy: Math.max(...bucket.map((s) => s.busy)),
      queued: Math.max(...bucket.map((s) => s.queued)),
    });
  }
  return buckets;
}

/** The y axis's step (1, 2 or 5 times a power of ten, whole numbers) and top tick, at least `max`. */
export function yTicks(max: number): { step: number; top: number } {
  const rough = Math.max(1, max) / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough)!);
  return { step, top: Math.max(step, Math.ceil(max / step) * step) };
}

/** `text` safe in an SVG's text and attributes. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** A coordinate, to one decimal. */
function n(value: number): string {
  const rounded = Math.round(value * 10) / 10;
  return String(rounded === 0 ? 0 : rounded);
}

/** Live workers (a light area), busy workers and queued tasks (lines) over hours since the trace start, as an SVG document. */
export function plotSvg(record: SimulationRecord, figures: SimulationFigures, title: string): string {
  const points = downsample(record.samples.length > 0 ? record.samples : [{ at: 0, live: 0, busy: 0, queued: 0 }]);
  const endMs = Math.max(record.endedAt, points.at(-1)!.at, 1);
  const xSteps = endMs >= 2 * hourMs ? hourSteps : minuteSteps.concat(hourSteps);
  const xStep = xSteps.find((step) => endMs / step <= 14) ?? xSteps.at(-1)!;
  const max = Math.max(...points.map((p) => Math.max(p.live, p.busy, p.queued)));
  const y = yTicks(max);
  const xOf = (at: number) => plotArea.left + (at / endMs) * (plotArea.right - plotArea.left);
  const yOf = (value: number) => plotArea.bottom - (value / y.top) * (plotArea.bottom - plotArea.top);

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<title>${escapeXml(title)}</title>`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);

  const headline = `billed/busy ${figures.billed_over_busy.toFixed(2)}, p95 wait ${figures.wait_s.p95.toFixed(1)} s, `
    + `${figures.workers_started} workers started (at most ${figures.peak_workers} at once), $${figures.cost_usd.toFixed(2)}`
    + ` for ${figures.tasks} tasks`;
  out.push(`<text class="title" x="${plotArea.left}" y="22" font-size="14"><tspan font-weight="bold">${escapeXml(title)}</tspan>: ${escapeXml(headline)}</text>`);

  // Legend, one row above the plot.
  let legendX = plotArea.left;
  out.push('<g class="legend">');
  for (const s of series) {
    const swatch = s.fill === 'none'
      ? `<line x1="${legendX}" y1="40" x2="${legendX + 18}" y2="40" stroke="${s.stroke}" stroke-width="2"/>`
      : `<rect x="${legendX}" y="34" width="18" height="12" fill="${s.fill}" stroke="${s.stroke}"/>`;
    out.push(`${swatch}<text x="${legendX + 24}" y="44">${escapeXml(s.name)}</text>`);
    legendX += 24 + s.name.length * 7 + 24;
  }
  out.push('</g>');

  // Y axis: grid lines at each tick, labels at the left.
  out.push(`<g class="y-axis" stroke="#e3e3e3">`);
  for (let value = 0; value <= y.top; value += y.step) {
    out.push(`<line x1="${plotArea.left}" y1="${n(yOf(value))}" x2="${plotArea.right}" y2="${n(yOf(value))}"/>`);
  }
  out.push('</g>');
  out.push(`<g class="y-labels" text-anchor="end" fill="#444444">`);
  for (let value = 0; value <= y.top; value += y.step) {
    out.push(`<text class="y-tick" x="${plotArea.left - 6}" y="${n(yOf(value) + 4)}">${value}</text>`);
  }
  out.push('</g>');
  const yMiddle = n((plotArea.top + plotArea.bottom) / 2);
  out.push(`<text x="16" y="${yMiddle}" transform="rotate(-90 16 ${yMiddle})" text-anchor="middle" fill="#444444">workers / tasks</text>`);

  // X axis: a tick each step, in hours (minutes for short traces).
  const inHours = xStep >= hourMs;
  out.push(`<g class="x-axis" text-anchor="middle" fill="#444444">`);
  for (let at = 0; at <= endMs; at += xStep) {
    const x = n(xOf(at));
    out.push(`<line x1="${x}" y1="${plotArea.bottom}" x2="${x}" y2="${plotArea.bottom + 5}" stroke="#444444"/>`
      + `<text class="x-tick" x="${x}" y="${plotArea.bottom + 18}">${inHours ? at / hourMs : at / minuteMs}</text>`);
  }
  out.push('</g>');
  out.push(`<text x="${n((plotArea.left + plotArea.right) / 2)}" y="${height - 8}" text-anchor="middle" fill="#444444">${inHours ? 'hours' : 'minutes'} since the trace start</text>`);

  // The series: step lines (a value holds until the next sample), live as a filled area.
  for (const s of series) {
    const steps = points.slice(1).map((p) => `H${n(xOf(p.at))}V${n(yOf(p[s.key]))}`).join('');
    const first = points[0]!;
    const d = s.fill === 'none'
      ? `M${n(xOf(first.at))},${n(yOf(first[s.key]))}${steps}`
      : `M${n(xOf(first.at))},${n(yOf(0))}V${n(yOf(first[s.key]))}${steps}V${n(yOf(0))}Z`;
    out.push(`<path class="series" data-series="${s.key}" d="${d}" fill="${s.fill}" stroke="${s.stroke}" stroke-width="${s.fill === 'none' ? 1.5 : 1}" stroke-linejoin="round"/>`);
  }

  out.push(`<line x1="${plotArea.left}" y1="${plotArea.bottom}" x2="${plotArea.right}" y2="${plotArea.bottom}" stroke="#444444"/>`);
  out.push(`<line x1="${plotArea.left}" y1="${plotArea.top}" x2="${plotArea.left}" y2="${plotArea.bottom}" stroke="#444444"/>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
