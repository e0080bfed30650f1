// Horizontal bar charts, e.g. a classifier's top-5 probabilities: the class names on the left,
// a bar per class and its value written at the bar's end, with a light percentage grid.
import { AXIS, COLORS, GRID, MUTED_INK, SIZES } from './style.js';
import { el, text, type Figure } from './svg.js';
import { fitText, textWidth } from './text-metrics.js';
import { formatPercent } from './ticks.js';

export interface Bar {
  label: string;
  /** In [0, max]. */
  value: number;
  /** A CSS colour for this bar; default the chart's colour. */
  color?: string;
}

export interface BarChartOptions {
  title?: string;
  /** A line under the title (e.g. the image's name). */
  subtitle?: string;
  /** The full scale; default 1 (probabilities). */
  max?: number;
  /** How values are written; default as percentages of 1 (0.973 -> "97.3%"). */
  format?: (value: number) => string;
  /** Figure width in pixels; default 560. */
  width?: number;
  color?: string;
}

const PAD = 16;
const ROW = 30;
const BAR = 18;

export function barChart(bars: readonly Bar[], options: BarChartOptions = {}): Figure {
  if (bars.length === 0) throw new Error('barChart: expected at least one bar');
  const max = options.max ?? 1;
  if (!(max > 0 && Number.isFinite(max))) throw new Error(`barChart: max must be a positive number, got ${max}`);
  bars.forEach((b, i) => {
    if (!(Number.isFinite(b.value) && b.value >= 0)) throw new Error(`barChart: bar ${i} ('${b.label}') has value ${b.value}; expected a number >= 0`);
  });
  const format = options.format ?? ((v: number) => formatPercent(v));
  const width = options.width ?? 560;
  const size = SIZES.label;

  let top = PAD;
  const parts: string[] = [];
  if (options.title) {
    parts.push(text(PAD, top, fitText(options.title, width - 2 * PAD, SIZES.panelTitle), { size: SIZES.panelTitle, baseline: 'hanging' }));
    top += SIZES.panelTitle + 8;
  }
  if (options.subtitle) {
    parts.push(text(PAD, top, fitText(options.subtitle, width - 2 * PAD, SIZES.caption), { size: SIZES.caption, baseline: 'hanging', fill: MUTED_INK }));
    top += SIZES.caption + 8;
  }
  top += 6;

  // Label column as wide as the longest label, up to 40% of the figure; values after the bars.
  const labelWidth = Math.min(0.4 * width, Math.max(...bars.map((b) => textWidth(b.label, size))));
  const valueWidth = Math.max(...bars.map((b) => textWidth(format(Math.min(b.value, max)), size))) + 8;
  const x0 = PAD + labelWidth + 10;
  const x1 = width - PAD - valueWidth;
  const px = (v: number): number => x0 + (Math.min(v, max) / max) * (x1 - x0);
  const bottom = top + bars.length * ROW;

  for (let q = 0; q <= 4; q++) {
    const x = px((q / 4) * max);
    parts.push(el('line', { x1: x, x2: x, y1: top, y2: bottom, stroke: q === 0 ? AXIS : GRID, 'stroke-width': 1 }));
    parts.push(text(x, bottom + 6, format((q / 4) * max), { size: SIZES.tick, anchor: 'middle', baseline: 'hanging', fill: MUTED_INK }));
  }
  bars.forEach((b, i) => {
    const cy = top + i * ROW + ROW / 2;
    parts.push(text(x0 - 10, cy, fitText(b.label, labelWidth, size), { size, anchor: 'end', baseline: 'middle' }));
    parts.push(el('rect', { x: x0, y: cy - BAR / 2, width: Math.max(0, px(b.value) - x0), height: BAR, fill: b.color ?? options.color ?? COLORS.blue, rx: 2 }));
    parts.push(text(px(b.value) + 6, cy, format(b.value), { size, baseline: 'middle' }));
  });
  return { width, height: bottom + 6 + SIZES.tick + PAD, body: parts.join(''), images: [] };
}
