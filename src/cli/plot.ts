// Line charts drawn straight into an RGBA pixel buffer (then PNG-encoded by src/io/png.ts): one
// panel per metric side by side, each with a title, axes, ticks with numbers, light grid lines,
// its series as coloured lines (markers for sparse series) and a legend. Text uses the built-in
// 5x7 bitmap font, so nothing outside this repository is needed.
import { GLYPH_HEIGHT, GLYPH_WIDTH, glyph, textWidth } from './bitmap-font.js';
import type { RgbaImage } from '../io/png.js';

export type Rgb = readonly [number, number, number];

export const COLORS: Record<'blue' | 'orange' | 'green' | 'red' | 'purple' | 'brown', Rgb> = {
  blue: [31, 119, 180],
  orange: [230, 110, 0],
  green: [44, 160, 44],
  red: [214, 39, 40],
  purple: [148, 103, 189],
  brown: [140, 86, 75],
};
const INK: Rgb = [30, 30, 30];
const GRID: Rgb = [225, 225, 225];
const WHITE: Rgb = [255, 255, 255];

export interface Point {
  x: number;
  y: number;
}

export interface Series {
  label: string;
  color: Rgb;
  points: Point[];
  /** Draw a square at each point (for series with few points, e.g. one per epoch). */
  markers?: boolean;
}

export interface Panel {
  title: string;
  xLabel: string;
  series: Series[];
  /** Fix the y range (e.g. [0, 100] for percentages); otherwise fitted to the data. */
  yRange?: [number, number];
  /** Where the legend sits (default top-right). */
  legend?: 'top-right' | 'bottom-right';
}

/** An RGBA image with the few drawing primitives the plots need. */
export class Canvas {
  readonly data: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb = WHITE,
  ) {
    this.data = new Uint8Array(width * height * 4);
    for (let i = 0; i < width * height; i++) this.data.set([background[0], background[1], background[2], 255], i * 4);
  }

  pixel(x: number, y: number, c: Rgb): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (y * this.width + x) * 4;
    this.data[i] = c[0];
    this.data[i + 1] = c[1];
    this.data[i + 2] = c[2];
    this.data[i + 3] = 255;
  }

  fillRect(x: number, y: number, w: number, h: number, c: Rgb): void {
    for (let yy = Math.round(y); yy < Math.round(y + h); yy++) for (let xx = Math.round(x); xx < Math.round(x + w); xx++) this.pixel(xx, yy, c);
  }

  /** A line `thickness` pixels wide (Bresenham, stamping a square brush). */
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, thickness = 1): void {
    let [x, y] = [Math.round(x0), Math.round(y0)];
    const [xe, ye] = [Math.round(x1), Math.round(y1)];
    const dx = Math.abs(xe - x);
    const dy = -Math.abs(ye - y);
    const sx = x < xe ? 1 : -1;
    const sy = y < ye ? 1 : -1;
    let err = dx + dy;
    const lo = -Math.floor((thickness - 1) / 2);
    for (;;) {
      this.fillRect(x + lo, y + lo, thickness, thickness, c);
      if (x === xe && y === ye) break;
      const e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y += sy;
      }
    }
  }

  /** Text with its top-left corner at (x, y), each font pixel drawn as scale x scale. */
  text(x: number, y: number, s: string, c: Rgb, scale = 2): void {
    let cx = Math.round(x);
    for (const ch of s) {
      glyph(ch).forEach((row, gy) => row.forEach((on, gx) => on && this.fillRect(cx + gx * scale, y + gy * scale, scale, scale, c)));
      cx += (GLYPH_WIDTH + 1) * scale;
    }
  }

  toImage(): RgbaImage {
    return { width: this.width, height: this.height, data: this.data, channels: 4 };
  }
}

/** Tick positions at 1, 2 or 5 times a power of ten, about `target` of them across [lo, hi]. */
export function niceTicks(lo: number, hi: number, target = 5): { lo: number; hi: number; step: number; ticks: number[] } {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    [lo, hi] = [lo - pad, hi + pad];
  }
  const raw = (hi - lo) / target;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
  const first = Math.floor(lo / step + 1e-9) * step;
  const last = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = first; v <= last + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return { lo: first, hi: last, step, ticks };
}

export function formatTick(v: number, step: number): string {
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(decimals);
}

const SCALE = 2;
const LINE_HEIGHT = GLYPH_HEIGHT * SCALE;

function drawPanel(canvas: Canvas, panel: Panel, left: number, top: number, width: number, height: number): void {
  const all = panel.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const xs = niceTicks(Math.min(0, ...all.map((p) => p.x)), Math.max(1, ...all.map((p) => p.x)));
  const yData = all.length > 0 ? [Math.min(...all.map((p) => p.y)), Math.max(...all.map((p) => p.y))] : [0, 1];
  const ys = niceTicks(...((panel.yRange ?? yData) as [number, number]));

  // Plot area inside the panel: room for the title above, tick labels left and below.
  const yLabelWidth = Math.max(...ys.ticks.map((t) => textWidth(formatTick(t, ys.step), SCALE)));
  const plotLeft = left + yLabelWidth + 16;
  const plotTop = top + LINE_HEIGHT + 14;
  const plotRight = left + width - 12;
  const plotBottom = top + height - 2 * LINE_HEIGHT - 22;
  const px = (x: number): number => plotLeft + ((x - xs.lo) / (xs.hi - xs.lo)) * (plotRight - plotLeft);
  const py = (y: number): number => plotBottom - ((y - ys.lo) / (ys.hi - ys.lo)) * (plotBottom - plotTop);

  canvas.text(left + (width - textWidth(panel.title, SCALE)) / 2, top, panel.title, INK, SCALE);
  for (const t of ys.ticks) {
    const y = py(t);
    canvas.line(plotLeft, y, plotRight, y, GRID);
    canvas.line(plotLeft - 5, y, plotLeft, y, INK);
    const label = formatTick(t, ys.step);
    canvas.text(plotLeft - 8 - textWidth(label, SCALE), y - LINE_HEIGHT / 2, label, INK, SCALE);
  }
  for (const t of xs.ticks) {
    const x = px(t);
    canvas.line(x, plotTop, x, plotBottom, GRID);
    canvas.line(x, plotBottom, x, plotBottom + 5, INK);
    const label = formatTick(t, xs.step);
    canvas.text(x - textWidth(label, SCALE) / 2, plotBottom + 12, label, INK, SCALE);
  }
  canvas.text(plotLeft + (plotRight - plotLeft - textWidth(panel.xLabel, SCALE)) / 2, plotBottom + LINE_HEIGHT + 20, panel.xLabel, INK, SCALE);
  canvas.line(plotLeft, plotTop, plotLeft, plotBottom, INK, 2);
  canvas.line(plotLeft, plotBottom, plotRight, plotBottom, INK, 2);

  for (const s of panel.series) {
    const pts = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
    for (let i = 1; i < pts.length; i++) canvas.line(px(pts[i - 1]!.x), py(pts[i - 1]!.y), px(pts[i]!.x), py(pts[i]!.y), s.color, 2);
    if (s.markers || pts.length === 1) for (const p of pts) canvas.fillRect(px(p.x) - 3, py(p.y) - 3, 7, 7, s.color);
  }

  // Legend: a swatch and the label per series, in a framed white box.
  const rowHeight = LINE_HEIGHT + 8;
  const boxWidth = 36 + Math.max(...panel.series.map((s) => textWidth(s.label, SCALE))) + 10;
  const boxHeight = panel.series.length * rowHeight + 8;
  const boxLeft = plotRight - boxWidth - 8;
  const boxTop = panel.legend === 'bottom-right' ? plotBottom - boxHeight - 8 : plotTop + 8;
  canvas.fillRect(boxLeft, boxTop, boxWidth, boxHeight, WHITE);
  canvas.line(boxLeft, boxTop, boxLeft + boxWidth, boxTop, INK);
  canvas.line(boxLeft, boxTop + boxHeight, boxLeft + boxWidth, boxTop + boxHeight, INK);
  canvas.line(boxLeft, boxTop, boxLeft, boxTop + boxHeight, INK);
  canvas.line(boxLeft + boxWidth, boxTop, boxLeft + boxWidth, boxTop + boxHeight, INK);
  panel.series.forEach((s, i) => {
    const y = boxTop + 8 + i * rowHeight;
    canvas.fillRect(boxLeft + 8, y + LINE_HEIGHT / 2 - 2, 20, 5, s.color);
    canvas.text(boxLeft + 36, y, s.label, INK, SCALE);
  });
}

export interface PlotOptions {
  title?: string;
  panelWidth?: number;
  height?: number;
}

/** Renders panels side by side under an optional title. */
export function renderPlot(panels: Panel[], options: PlotOptions = {}): Canvas {
  const panelWidth = options.panelWidth ?? 560;
  const height = options.height ?? 440;
  const titleHeight = options.title ? LINE_HEIGHT + 24 : 8;
  const canvas = new Canvas(panelWidth * panels.length, height + titleHeight);
  if (options.title) canvas.text((canvas.width - textWidth(options.title, SCALE)) / 2, 12, options.title, INK, SCALE);
  panels.forEach((p, i) => drawPanel(canvas, p, i * panelWidth + 8, titleHeight, panelWidth - 16, height - 8));
  return canvas;
}
