// Scatter plots (a 2-D embedding of nodes): points as markers coloured by series, an optional short
// label beside each, round ticks and a light grid, the legend in a column right of the plot so it
// never covers a point. With `equalAspect` one unit is as long on both axes (distances in an
// embedding mean something).
import type { Rect } from './line-chart.js';
import { AXIS, GRID, MUTED_INK, SIZES } from './style.js';
import { el, num, text, type Figure } from './svg.js';
import { fitText, textWidth } from './text-metrics.js';
import { formatTick, niceTicks } from './ticks.js';

export type Marker = 'circle' | 'square' | 'diamond';

export interface ScatterPoint {
  x: number;
  y: number;
  /** Drawn small beside the marker (a node id). */
  label?: string;
}

export interface ScatterSeries {
  label: string;
  /** A CSS colour. */
  color: string;
  marker?: Marker;
  points: readonly ScatterPoint[];
}

export interface ScatterOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** The plot area's size in pixels (default 480 x 420). */
  plotWidth?: number;
  plotHeight?: number;
  /** One data unit is as long on both axes (the wider range sets the scale). */
  equalAspect?: boolean;
}

export interface Axis {
  lo: number;
  hi: number;
  ticks: number[];
  step: number;
}

export interface ScatterLayout {
  width: number;
  height: number;
  plot: Rect;
  x: Axis;
  y: Axis;
  legend: Rect;
  /** Where each series' points are drawn, in pixels (NaN for a point that is not finite: not drawn). */
  positions: Array<Array<{ x: number; y: number }>>;
}

const PAD = 14;
const TITLE_BAND = 40;
const MARKER_SIZE = 5;
const LEGEND_ROW = 20;

function dataRange(values: number[]): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  const [lo, hi] = [Math.min(...finite), Math.max(...finite)];
  const pad = hi > lo ? 0.06 * (hi - lo) : Math.abs(lo) * 0.1 || 1;
  return [lo - pad, hi + pad];
}

/** Data to pixels along x and y for a plot rectangle and its axes. */
function pixelMaps(plot: Rect, x: Axis, y: Axis): { px: (v: number) => number; py: (v: number) => number } {
  return {
    px: (v) => plot.x + ((v - x.lo) / (x.hi - x.lo)) * plot.width,
    py: (v) => plot.y + plot.height - ((v - y.lo) / (y.hi - y.lo)) * plot.height,
  };
}

function checkSeries(series: readonly ScatterSeries[]): void {
  if (series.length === 0) throw new Error('scatterChart: expected at least one series');
  for (const s of series) {
    if (!Array.isArray(s.points)) throw new Error(`scatterChart: series '${s.label}' has no points array`);
  }
}

/** Where everything of `scatterChart(series, options)` goes. */
export function scatterLayout(series: readonly ScatterSeries[], options: ScatterOptions = {}): ScatterLayout {
  checkSeries(series);
  const plotWidth = options.plotWidth ?? 480;
  const plotHeight = options.plotHeight ?? 420;
  const points = series.flatMap((s) => s.points);
  let [xlo, xhi] = dataRange(points.map((p) => p.x));
  let [ylo, yhi] = dataRange(points.map((p) => p.y));
  if (options.equalAspect) {
    // Units per pixel: the larger of the two, then each range widened about its centre to match.
    const scale = Math.max((xhi - xlo) / plotWidth, (yhi - ylo) / plotHeight);
    const widen = (lo: number, hi: number, pixels: number): [number, number] => {
      const half = (scale * pixels) / 2;
      const mid = (lo + hi) / 2;
      return [mid - half, mid + half];
    };
    [xlo, xhi] = widen(xlo, xhi, plotWidth);
    [ylo, yhi] = widen(ylo, yhi, plotHeight);
  }
  const x = { lo: xlo, hi: xhi, ...niceTicks(xlo, xhi, Math.max(3, Math.round(plotWidth / 90))) };
  const y = { lo: ylo, hi: yhi, ...niceTicks(ylo, yhi, Math.max(3, Math.round(plotHeight / 60))) };
  const tickWidth = Math.max(...y.ticks.map((t) => textWidth(formatTick(t, y.step), SIZES.tick)));
  const titleBand = options.title ? TITLE_BAND : 8;
  const yLabelBand = options.yLabel ? SIZES.label + 10 : 0;
  const plot = { x: PAD + yLabelBand + tickWidth + 10, y: PAD + titleBand, width: plotWidth, height: plotHeight };
  const legendWidth = 8 + 2 * MARKER_SIZE + 8 + Math.max(...series.map((s) => textWidth(s.label, SIZES.legend))) + 10;
  const legend = { x: plot.x + plot.width + 16, y: plot.y, width: legendWidth, height: 6 + series.length * LEGEND_ROW + 4 };
  const xLabelBand = SIZES.tick + 10 + (options.xLabel ? SIZES.label + 10 : 0);
  const { px, py } = pixelMaps(plot, x, y);
  return {
    width: Math.ceil(legend.x + legend.width + PAD),
    height: Math.ceil(plot.y + plot.height + xLabelBand + PAD),
    plot,
    x,
    y,
    legend,
    positions: series.map((s) => s.points.map((p) => (Number.isFinite(p.x) && Number.isFinite(p.y) ? { x: px(p.x), y: py(p.y) } : { x: NaN, y: NaN }))),
  };
}

function markerAt(marker: Marker, cx: number, cy: number, color: string): string {
  const r = MARKER_SIZE;
  const style = { fill: color, stroke: '#ffffff', 'stroke-width': 1.2 };
  if (marker === 'square') return el('rect', { x: cx - r, y: cy - r, width: 2 * r, height: 2 * r, ...style });
  if (marker === 'diamond') return el('polygon', { points: `${num(cx)},${num(cy - r - 1)} ${num(cx + r + 1)},${num(cy)} ${num(cx)},${num(cy + r + 1)} ${num(cx - r - 1)},${num(cy)}`, ...style });
  return el('circle', { cx, cy, r, ...style });
}

/** A scatter plot of the series (markers by series, labels beside the points) with a legend on the right. */
export function scatterChart(series: readonly ScatterSeries[], options: ScatterOptions = {}): Figure {
  const layout = scatterLayout(series, options);
  const { plot, x, y, legend } = layout;
  const { px, py } = pixelMaps(plot, x, y);
  const parts: string[] = [];
  if (options.title) {
    parts.push(text(layout.width / 2, PAD + 12, fitText(options.title, layout.width - 2 * PAD, SIZES.figureTitle), { size: SIZES.figureTitle, anchor: 'middle', baseline: 'middle' }));
  }
  for (const t of x.ticks) {
    parts.push(el('line', { x1: px(t), x2: px(t), y1: plot.y, y2: plot.y + plot.height, stroke: GRID, 'stroke-width': 1 }));
    parts.push(text(px(t), plot.y + plot.height + 8, formatTick(t, x.step), { size: SIZES.tick, anchor: 'middle', baseline: 'hanging', fill: MUTED_INK }));
  }
  for (const t of y.ticks) {
    parts.push(el('line', { x1: plot.x, x2: plot.x + plot.width, y1: py(t), y2: py(t), stroke: GRID, 'stroke-width': 1 }));
    parts.push(text(plot.x - 7, py(t), formatTick(t, y.step), { size: SIZES.tick, anchor: 'end', baseline: 'middle', fill: MUTED_INK }));
  }
  parts.push(el('rect', { ...plot, fill: 'none', stroke: AXIS, 'stroke-width': 1.2 }));
  if (options.xLabel) parts.push(text(plot.x + plot.width / 2, plot.y + plot.height + SIZES.tick + 18, options.xLabel, { size: SIZES.label, anchor: 'middle', baseline: 'hanging' }));
  if (options.yLabel) {
    const [lx, ly] = [PAD + SIZES.label / 2, plot.y + plot.height / 2];
    parts.push(`<g transform="rotate(-90 ${num(lx)} ${num(ly)})">${text(lx, ly, options.yLabel, { size: SIZES.label, anchor: 'middle', baseline: 'middle' })}</g>`);
  }
  series.forEach((s, i) => {
    layout.positions[i]!.forEach((p, k) => {
      if (!Number.isFinite(p.x)) return;
      parts.push(markerAt(s.marker ?? 'circle', p.x, p.y, s.color));
      const label = s.points[k]!.label;
      if (label) parts.push(text(p.x + MARKER_SIZE + 2, p.y - MARKER_SIZE - 1, label, { size: 10, fill: MUTED_INK }));
    });
  });
  series.forEach((s, i) => {
    const cy = legend.y + 6 + i * LEGEND_ROW + LEGEND_ROW / 2;
    parts.push(markerAt(s.marker ?? 'circle', legend.x + 8 + MARKER_SIZE, cy, s.color));
    parts.push(text(legend.x + 8 + 2 * MARKER_SIZE + 8, cy, s.label, { size: SIZES.legend, baseline: 'middle' }));
  });
  return { width: layout.width, height: layout.height, body: parts.join(''), images: [] };
}
