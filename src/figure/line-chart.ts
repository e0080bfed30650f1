// Line charts (training curves): panels side by side, each with a title, axis labels, round ticks,
// a light grid and its series. A smoothed series is drawn solid over its raw points drawn faint.
// The legend goes in a corner of the plot that no data passes through, or below the plot when
// every corner has data: it never covers a curve.
import { mergeLightPoints, movingAverage, thinPoints, type WeightedPoint } from './smoothing.js';
import { AXIS, GRID, MUTED_INK, SIZES } from './style.js';
import { el, num, text, type Figure } from './svg.js';
import { fitText, textWidth } from './text-metrics.js';
import { formatTick, niceTicks } from './ticks.js';

export interface LineSeries {
  label: string;
  /** A CSS colour. */
  color: string;
  points: readonly WeightedPoint[];
  /** 'line' (default) or 'markers': a dot per point on a thin line (for sparse series, e.g. per epoch). */
  style?: 'line' | 'markers';
  /**
   * Draw the moving average solid over the raw points drawn faint: true for a half window of
   * about 1/40 of the points, or the half window in points. Points' weights are honoured.
   */
  smooth?: boolean | number;
}

export interface LinePanel {
  title: string;
  xLabel: string;
  series: readonly LineSeries[];
  /** The y axis exactly; otherwise fitted to the data. */
  yRange?: [number, number];
  /** Limits a fitted y axis never passes (e.g. [0, 100] for percentages). */
  yBounds?: [number, number];
}

export interface LineChartOptions {
  title?: string;
  /** Each panel's size in pixels; default 520 x 380. */
  panelWidth?: number;
  panelHeight?: number;
}

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Where a panel's pieces went: tests and callers can check the legend against the data. */
export interface PanelLayout {
  plot: Rect;
  legend: Rect;
  /** 'top-right' etc. inside the plot, or 'below' it. */
  legendPlace: LegendPlace;
  x: { lo: number; hi: number; ticks: number[]; step: number };
  y: { lo: number; hi: number; ticks: number[]; step: number };
}

export type LegendPlace = 'top-right' | 'bottom-right' | 'top-left' | 'bottom-left' | 'below';
const CORNERS: LegendPlace[] = ['top-right', 'bottom-right', 'top-left', 'bottom-left'];

const FIGURE_PAD = 14;
const TITLE_BAND = 40;
const LEGEND_ROW = 19;
const LEGEND_SWATCH = 24;
const MARKER_RADIUS = 3.5;
/** Most points a raw (faint) curve keeps; more are averaged in runs. */
const RAW_POINTS = 700;

/** Polyline pieces in data space, split where a value is not finite. */
function runs(points: readonly { x: number; y: number }[]): Array<Array<{ x: number; y: number }>> {
  const out: Array<Array<{ x: number; y: number }>> = [[]];
  for (const p of points) {
    if (Number.isFinite(p.x) && Number.isFinite(p.y)) out.at(-1)!.push(p);
    else if (out.at(-1)!.length > 0) out.push([]);
  }
  return out.filter((r) => r.length > 0);
}

interface Drawn {
  series: LineSeries;
  raw?: Array<{ x: number; y: number }>;
  main: Array<{ x: number; y: number }>;
}

/** What each series draws: the smoothed and faint raw curves, or its points as they are. */
function drawnSeries(series: LineSeries): Drawn {
  if (!series.smooth || series.points.length < 3) return { series, main: [...series.points] };
  const finite = series.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const half = series.smooth === true ? undefined : series.smooth;
  return {
    series,
    raw: thinPoints(mergeLightPoints(finite), RAW_POINTS),
    main: thinPoints(movingAverage(finite, half), RAW_POINTS),
  };
}

function range(values: number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) if (Number.isFinite(v)) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  return [lo, hi];
}

function yAxisRange(panel: LinePanel, drawn: Drawn[]): [number, number] {
  if (panel.yRange) {
    if (!(panel.yRange[1] > panel.yRange[0])) throw new Error(`lineChart: '${panel.title}' has yRange [${panel.yRange.join(', ')}]; expected lo < hi`);
    return panel.yRange;
  }
  let [lo, hi] = range(drawn.flatMap((d) => [...d.main, ...(d.raw ?? [])].map((p) => p.y)));
  if (!(hi >= lo)) [lo, hi] = [0, 1];
  const pad = hi > lo ? 0.06 * (hi - lo) : Math.abs(lo) * 0.1 || 1;
  [lo, hi] = [lo - pad, hi + pad];
  if (panel.yBounds) [lo, hi] = [Math.max(lo, panel.yBounds[0]), Math.min(hi, panel.yBounds[1])];
  return hi > lo ? [lo, hi] : [lo - 1, hi + 1];
}

function xAxisRange(drawn: Drawn[]): [number, number] {
  const [lo, hi] = range(drawn.flatMap((d) => d.main.map((p) => p.x)));
  if (!(hi >= lo)) return [0, 1];
  const from = Math.min(0, lo);
  return hi > from ? [from, hi] : [from, from + 1];
}

function legendSize(series: readonly LineSeries[], maxWidth: number): { width: number; height: number } {
  const labelWidth = Math.max(...series.map((s) => textWidth(s.label, SIZES.legend)));
  return { width: Math.min(maxWidth, 8 + LEGEND_SWATCH + 6 + labelWidth + 10), height: 6 + series.length * LEGEND_ROW + 2 };
}

/** Samples of everything drawn, in pixels, about every 2 pixels along each line. */
function inkSamples(drawn: Drawn[], px: (x: number) => number, py: (y: number) => number): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  for (const d of drawn) {
    const radius = d.series.style === 'markers' ? MARKER_RADIUS + 1 : 1.5;
    for (const line of [...runs(d.main), ...(d.raw ? runs(d.raw) : [])]) {
      line.forEach((p, i) => {
        const [x1, y1] = [px(p.x), py(p.y)];
        out.push([x1, y1, radius]);
        if (i === 0) return;
        const [x0, y0] = [px(line[i - 1]!.x), py(line[i - 1]!.y)];
        const steps = Math.ceil(Math.hypot(x1 - x0, y1 - y0) / 2);
        for (let k = 1; k < steps; k++) out.push([x0 + ((x1 - x0) * k) / steps, y0 + ((y1 - y0) * k) / steps, 1.5]);
      });
    }
  }
  return out;
}

function overlaps(rect: Rect, samples: Array<[number, number, number]>): number {
  const gap = 3;
  return samples.filter(([x, y, r]) => x + r >= rect.x - gap && x - r <= rect.x + rect.width + gap && y + r >= rect.y - gap && y - r <= rect.y + rect.height + gap).length;
}

function cornerRect(place: LegendPlace, plot: Rect, size: { width: number; height: number }): Rect {
  const inset = 8;
  const x = place.endsWith('right') ? plot.x + plot.width - size.width - inset : plot.x + inset;
  const y = place.startsWith('top') ? plot.y + inset : plot.y + plot.height - size.height - inset;
  return { x, y, ...size };
}

/** Lays out one panel in its box. */
function panelLayout(panel: LinePanel, box: Rect, drawn: Drawn[]): PanelLayout {
  const { x: left, y: top, width, height } = box;
  const [ylo, yhi] = yAxisRange(panel, drawn);
  const [xlo, xhi] = xAxisRange(drawn);
  const plotTop = top + 32;
  const xLabelBand = SIZES.tick + 8 + SIZES.label + 10;

  const place = (legendBelow: boolean): PanelLayout => {
    const legend = legendSize(panel.series, width - 20);
    const plotBottom = top + height - xLabelBand - (legendBelow ? legend.height + 6 : 0);
    const y = { lo: ylo, hi: yhi, ...niceTicks(ylo, yhi, Math.max(3, Math.round((plotBottom - plotTop) / 55))) };
    const tickWidth = Math.max(...y.ticks.map((t) => textWidth(formatTick(t, y.step), SIZES.tick)));
    const plotLeft = left + tickWidth + 12;
    const plotRight = left + width - 14;
    const plot = { x: plotLeft, y: plotTop, width: plotRight - plotLeft, height: plotBottom - plotTop };
    // From the panel width, not the plot width, so panels of one figure tick their shared x alike.
    const x = { lo: xlo, hi: xhi, ...niceTicks(xlo, xhi, Math.max(3, Math.round(width / 95))) };
    const layout: PanelLayout = { plot, x, y, legendPlace: 'below', legend: { x: plot.x + (plot.width - legend.width) / 2, y: top + height - legend.height, ...legend } };
    if (legendBelow) return layout;
    const samples = inkSamples(drawn, toPixelX(layout), toPixelY(layout));
    for (const corner of CORNERS) {
      const rect = cornerRect(corner, plot, legend);
      if (overlaps(rect, samples) === 0) return { ...layout, legendPlace: corner, legend: rect };
    }
    return place(true);
  };
  return place(false);
}

const toPixelX = (l: PanelLayout) => (x: number): number => l.plot.x + ((x - l.x.lo) / (l.x.hi - l.x.lo)) * l.plot.width;
const toPixelY = (l: PanelLayout) => (y: number): number => l.plot.y + l.plot.height - ((y - l.y.lo) / (l.y.hi - l.y.lo)) * l.plot.height;

function polyline(points: Array<{ x: number; y: number }>, px: (x: number) => number, py: (y: number) => number, attrs: Record<string, string | number>): string {
  return runs(points)
    .map((line) => el('polyline', { points: line.map((p) => `${num(px(p.x))},${num(py(p.y))}`).join(' '), fill: 'none', 'stroke-linejoin': 'round', 'stroke-linecap': 'round', ...attrs }))
    .join('');
}

function drawPanel(panel: LinePanel, index: number, box: Rect, layout: PanelLayout, drawn: Drawn[]): string {
  const { plot, x, y, legend } = layout;
  const { x: left, y: top, width } = box;
  const [px, py] = [toPixelX(layout), toPixelY(layout)];
  const parts: string[] = [];
  parts.push(text(left + width / 2, top + 16, fitText(panel.title, width, SIZES.panelTitle), { size: SIZES.panelTitle, anchor: 'middle', baseline: 'middle' }));

  // Grid and ticks.
  for (const t of y.ticks) {
    const yy = py(t);
    parts.push(el('line', { x1: plot.x, x2: plot.x + plot.width, y1: yy, y2: yy, stroke: GRID, 'stroke-width': 1 }));
    parts.push(text(plot.x - 7, yy, formatTick(t, y.step), { size: SIZES.tick, anchor: 'end', baseline: 'middle', fill: MUTED_INK }));
  }
  for (const t of x.ticks) {
    const xx = px(t);
    parts.push(el('line', { x1: xx, x2: xx, y1: plot.y, y2: plot.y + plot.height, stroke: GRID, 'stroke-width': 1 }));
    parts.push(el('line', { x1: xx, x2: xx, y1: plot.y + plot.height, y2: plot.y + plot.height + 4, stroke: AXIS, 'stroke-width': 1 }));
    parts.push(text(xx, plot.y + plot.height + 8, formatTick(t, x.step), { size: SIZES.tick, anchor: 'middle', baseline: 'hanging', fill: MUTED_INK }));
  }
  parts.push(text(plot.x + plot.width / 2, plot.y + plot.height + SIZES.tick + 16, panel.xLabel, { size: SIZES.label, anchor: 'middle', baseline: 'hanging' }));
  parts.push(el('polyline', { points: `${num(plot.x)},${num(plot.y)} ${num(plot.x)},${num(plot.y + plot.height)} ${num(plot.x + plot.width)},${num(plot.y + plot.height)}`, fill: 'none', stroke: AXIS, 'stroke-width': 1.2 }));

  // Data, clipped to the plot (with room for markers on its edges).
  const clip = `plot-${index}`;
  const m = MARKER_RADIUS + 1;
  parts.push(el('clipPath', { id: clip }, el('rect', { x: plot.x - m, y: plot.y - m, width: plot.width + 2 * m, height: plot.height + 2 * m })));
  const data: string[] = [];
  for (const d of drawn) if (d.raw) data.push(polyline(d.raw, px, py, { stroke: d.series.color, 'stroke-width': 1, 'stroke-opacity': 0.28 }));
  for (const d of drawn) {
    const markers = d.series.style === 'markers';
    data.push(polyline(d.main, px, py, { stroke: d.series.color, 'stroke-width': markers ? 1.5 : 2.2 }));
    if (markers || d.main.length === 1) {
      for (const p of d.main) {
        if (Number.isFinite(p.x) && Number.isFinite(p.y)) data.push(el('circle', { cx: px(p.x), cy: py(p.y), r: MARKER_RADIUS, fill: d.series.color, stroke: '#ffffff', 'stroke-width': 1 }));
      }
    }
  }
  parts.push(el('g', { 'clip-path': `url(#${clip})` }, data.join('')));

  // Legend.
  const rows = panel.series.map((s, i) => {
    const cy = legend.y + 6 + i * LEGEND_ROW + LEGEND_ROW / 2;
    const sx = legend.x + 8;
    const markers = s.style === 'markers';
    return (
      el('line', { x1: sx, x2: sx + LEGEND_SWATCH, y1: cy, y2: cy, stroke: s.color, 'stroke-width': markers ? 1.5 : 2.2 }) +
      (markers ? el('circle', { cx: sx + LEGEND_SWATCH / 2, cy, r: MARKER_RADIUS, fill: s.color, stroke: '#ffffff', 'stroke-width': 1 }) : '') +
      text(sx + LEGEND_SWATCH + 6, cy, fitText(s.label, legend.width - LEGEND_SWATCH - 24, SIZES.legend), { size: SIZES.legend, baseline: 'middle' })
    );
  });
  const frame = layout.legendPlace === 'below' ? {} : { fill: '#ffffff', 'fill-opacity': 0.9, stroke: '#d0d0d0', 'stroke-width': 1 };
  parts.push(el('rect', { ...legend, rx: 3, fill: 'none', ...frame }) + rows.join(''));
  return parts.join('');
}

function checkPanels(panels: readonly LinePanel[]): void {
  if (panels.length === 0) throw new Error('lineChart: expected at least one panel');
  for (const p of panels) if (p.series.length === 0) throw new Error(`lineChart: panel '${p.title}' has no series`);
}

/** The figure's size and each panel's box (left to right, under the title band). */
function panelBoxes(count: number, options: LineChartOptions): { width: number; height: number; titleBand: number; boxes: Rect[] } {
  const panelWidth = options.panelWidth ?? 520;
  const panelHeight = options.panelHeight ?? 380;
  const titleBand = options.title ? TITLE_BAND : 0;
  return {
    width: FIGURE_PAD * 2 + panelWidth * count,
    height: FIGURE_PAD * 2 + titleBand + panelHeight,
    titleBand,
    boxes: Array.from({ length: count }, (_, i) => ({ x: FIGURE_PAD + i * panelWidth, y: FIGURE_PAD + titleBand, width: panelWidth - 10, height: panelHeight })),
  };
}

/** Where everything of `lineChart(panels, options)` goes. */
export function lineChartLayout(panels: readonly LinePanel[], options: LineChartOptions = {}): { width: number; height: number; panels: PanelLayout[] } {
  checkPanels(panels);
  const { width, height, boxes } = panelBoxes(panels.length, options);
  return { width, height, panels: panels.map((p, i) => panelLayout(p, boxes[i]!, p.series.map(drawnSeries))) };
}

/** Panels side by side under an optional title. */
export function lineChart(panels: readonly LinePanel[], options: LineChartOptions = {}): Figure {
  checkPanels(panels);
  const { width, height, boxes } = panelBoxes(panels.length, options);
  const parts: string[] = [];
  if (options.title) {
    parts.push(text(width / 2, FIGURE_PAD + 12, fitText(options.title, width - 2 * FIGURE_PAD, SIZES.figureTitle), { size: SIZES.figureTitle, anchor: 'middle', baseline: 'middle' }));
  }
  panels.forEach((panel, i) => {
    const drawn = panel.series.map(drawnSeries);
    parts.push(drawPanel(panel, i, boxes[i]!, panelLayout(panel, boxes[i]!, drawn), drawn));
  });
  return { width, height, body: parts.join(''), images: [] };
}
