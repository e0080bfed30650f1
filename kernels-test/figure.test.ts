// The figure module (src/figure) and its Node rasteriser (src/cli/figure-file.ts): ticks, colour
// maps against their published ends and rising lightness, weighted smoothing on known series, text
// measured against what resvg really draws, and each figure kind rendered to PNG and checked pixel
// by pixel (text drawn where the layout says, legends away from the data, no spike from a partial
// batch, images pixel-exact, heat blended and a colour bar that matches its map).
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pngjs from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { renderPixels, toSvg, writeFigure } from '../src/cli/figure-file.js';
import { barChart } from '../src/figure/bar-chart.js';
import { colormap, colormapCss } from '../src/figure/colormap.js';
import { blendHeat, heatmapOverlay } from '../src/figure/heatmap.js';
import { imageGrid, imageGridLayout } from '../src/figure/image-grid.js';
import { displaySize, resizeBilinear, resizeRgba, scalarToRgba, type RgbaImage } from '../src/figure/image.js';
import { lineChart, lineChartLayout, type LinePanel, type Rect } from '../src/figure/line-chart.js';
import { mergeLightPoints, movingAverage, thinPoints } from '../src/figure/smoothing.js';
import { figureSvg, text } from '../src/figure/svg.js';
import { fitText, textWidth } from '../src/figure/text-metrics.js';
import { formatPercent, formatTick, niceTicks } from '../src/figure/ticks.js';

type Pixels = { width: number; height: number; data: Uint8Array };

const rgbAt = (img: Pixels, x: number, y: number): number[] => Array.from(img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 3));

/** Pixels in the rectangle (rounded outwards to whole pixels) for which `test` holds. */
function countIn(img: Pixels, r: Rect, test: (rgb: number[]) => boolean): number {
  let n = 0;
  for (let y = Math.max(0, Math.floor(r.y)); y < Math.min(img.height, Math.ceil(r.y + r.height)); y++) {
    for (let x = Math.max(0, Math.floor(r.x)); x < Math.min(img.width, Math.ceil(r.x + r.width)); x++) if (test(rgbAt(img, x, y))) n++;
  }
  return n;
}

const hex = (css: string): number[] => [1, 3, 5].map((i) => parseInt(css.slice(i, i + 2), 16));
const near = (want: number[], tol: number) => (rgb: number[]) => rgb.every((v, i) => Math.abs(v - want[i]!) <= tol);
/** Dark grey text ink (anti-aliased edges excluded). */
const ink = (rgb: number[]) => rgb.every((v) => v < 110) && Math.max(...rgb) - Math.min(...rgb) < 30;
/** The lighter grey of tick labels, and the darker cores of small anti-aliased text. */
const tickInk = (rgb: number[]) => rgb.every((v) => v < 150) && Math.max(...rgb) - Math.min(...rgb) < 30;

/** CIELAB lightness L* of an sRGB colour (0-255 channels). */
function lightness([r, g, b]: number[]): number {
  const lin = (c: number) => (c / 255 <= 0.04045 ? c / 255 / 12.92 : ((c / 255 + 0.055) / 1.055) ** 2.4);
  const y = 0.2126 * lin(r!) + 0.7152 * lin(g!) + 0.0722 * lin(b!);
  return y > 216 / 24389 ? 116 * Math.cbrt(y) - 16 : (24389 / 27) * y;
}

describe('ticks', () => {
  it('picks round steps inside the range and prints just the decimals they need', () => {
    expect(niceTicks(0, 1.83)).toEqual({ step: 0.5, ticks: [0, 0.5, 1, 1.5] });
    expect(niceTicks(71.2, 90.4).ticks).toEqual([75, 80, 85, 90]);
    expect(niceTicks(0, 3, 4).ticks).toEqual([0, 1, 2, 3]);
    expect(niceTicks(-0.3, 0.3, 6).ticks).toEqual([-0.3, -0.2, -0.1, 0, 0.1, 0.2, 0.3]);
    expect([formatTick(0.5, 0.5), formatTick(80, 5), formatTick(0.25, 0.05), formatTick(0.75, 0.25), formatTick(-0, 0.1)]).toEqual(['0.5', '80', '0.25', '0.75', '0.0']);
    expect(formatPercent(0.9731)).toBe('97.3%');
    expect(() => niceTicks(1, 1)).toThrow('niceTicks: expected a range lo < hi, got [1, 1]');
  });
});

describe('colour maps', () => {
  it('hit their published end colours', () => {
    expect([colormapCss('viridis', 0), colormapCss('viridis', 1)]).toEqual(['#440154', '#fde725']);
    expect([colormapCss('inferno', 0), colormapCss('inferno', 1)]).toEqual(['#000004', '#fcffa4']);
    expect(colormapCss('viridis', 128 / 255)).toBe('#21918c'); // matplotlib's viridis(0.5), its entry 128
    // Clamped outside [0, 1]; NaN refused.
    expect(colormap('inferno', -3)).toEqual(colormap('inferno', 0));
    expect(colormap('inferno', 7)).toEqual(colormap('inferno', 1));
    expect(() => colormap('viridis', NaN)).toThrow('colormap: the value is NaN');
  });

  it('rise in lightness from end to end (perceptually ordered)', () => {
    for (const name of ['viridis', 'inferno'] as const) {
      const l = Array.from({ length: 256 }, (_, i) => lightness(colormap(name, i / 255)));
      // Strictly rising over every 4 entries; between neighbours only byte rounding may dent it.
      for (let i = 1; i < 256; i++) expect(l[i]!, `${name} at ${i}`).toBeGreaterThan(l[i - 1]! - 0.1);
      for (let i = 4; i < 256; i++) expect(l[i]!, `${name} at ${i}`).toBeGreaterThan(l[i - 4]! + 0.2);
      expect(l[255]! - l[0]!).toBeGreaterThan(60);
    }
  });

  it('interpolates between table entries', () => {
    const [a, b] = [colormap('viridis', 10 / 255), colormap('viridis', 11 / 255)];
    colormap('viridis', 10.5 / 255).forEach((v, c) => expect(v).toBeCloseTo((a[c]! + b[c]!) / 2, 9));
  });
});

describe('smoothing', () => {
  it('centred moving average on a known series, fewer points at the ends', () => {
    const pts = [1, 2, 3, 4, 5].map((y, i) => ({ x: i, y }));
    expect(movingAverage(pts, 1).map((p) => p.y)).toEqual([1.5, 2, 3, 4, 4.5]);
    expect(movingAverage(pts, 0).map((p) => p.y)).toEqual([1, 2, 3, 4, 5]);
    expect(movingAverage(pts, 2).map((p) => p.x)).toEqual([0, 1, 2, 3, 4]);
    expect(movingAverage(pts, 2)[0]!.y).toBeCloseTo(2, 12);
  });

  it('weights points by their batch size', () => {
    // Three full batches of 32 at loss 1 and a partial batch of 2 at loss 10.
    const pts = [1, 1, 1, 10].map((y, i) => ({ x: i, y, weight: i === 3 ? 2 : 32 }));
    expect(movingAverage(pts, 1).at(-1)!.y).toBeCloseTo((32 + 20) / 34, 12);
    expect(movingAverage(pts, 1)[2]!.y).toBeCloseTo((64 + 20) / 66, 12);
    expect(() => movingAverage([{ x: 0, y: 1, weight: 0 }], 1)).toThrow('smoothing: point 0 has weight 0; weights must be positive numbers');
  });

  it('merges a light (partial-batch) point into the one before for the raw curve', () => {
    const pts = [
      { x: 1, y: 0.5, weight: 32 },
      { x: 2, y: 0.7, weight: 32 },
      { x: 2.1, y: 5, weight: 4 },
      { x: 3, y: 0.4, weight: 32 },
    ];
    expect(mergeLightPoints(pts)).toEqual([
      { x: 1, y: 0.5, weight: 32 },
      { x: 2.1, y: (0.7 * 32 + 5 * 4) / 36, weight: 36 },
      { x: 3, y: 0.4, weight: 32 },
    ]);
    // Nothing light: unchanged.
    expect(mergeLightPoints(pts.filter((p) => p.weight === 32)).map((p) => p.y)).toEqual([0.5, 0.7, 0.4]);
  });

  it('thins long series to weighted means of runs', () => {
    const pts = Array.from({ length: 10 }, (_, i) => ({ x: i, y: i, weight: i + 1 }));
    const thin = thinPoints(pts, 4);
    expect(thin.map((p) => p.x)).toEqual([2, 5, 8, 9]);
    expect(thin[0]!.y).toBeCloseTo((0 * 1 + 1 * 2 + 2 * 3) / 6, 12);
    expect(thin[3]).toEqual({ x: 9, y: 9, weight: 10 });
  });
});

describe('text', () => {
  it('measures with the font and cuts long labels with an ellipsis', () => {
    expect(textWidth('MMMM', 12)).toBeGreaterThan(textWidth('iiii', 12) * 2);
    expect(textWidth('Loss', 24)).toBeCloseTo(2 * textWidth('Loss', 12), 9);
    const cut = fitText('A very long class name indeed', 80, 12);
    expect(cut.endsWith('…')).toBe(true);
    expect('A very long class name indeed'.startsWith(cut.slice(0, -1))).toBe(true);
    expect(textWidth(cut, 12)).toBeLessThanOrEqual(80);
    expect(fitText('Bag', 80, 12)).toBe('Bag');
  });

  it('is drawn by the rasteriser as wide as measured, in mixed case', async () => {
    const label = 'Validation accuracy (%) · Ankle boot';
    const svgText = text(10, 20, label, { size: 16, baseline: 'middle' });
    const img = await renderPixels({ width: 400, height: 40, body: svgText, images: [] });
    let [left, right, top, bottom] = [Infinity, -Infinity, Infinity, -Infinity];
    for (let y = 0; y < img.height; y++) {
      for (let x = 0; x < img.width; x++) {
        if (rgbAt(img, x, y)[0]! < 160) [left, right, top, bottom] = [Math.min(left, x), Math.max(right, x), Math.min(top, y), Math.max(bottom, y)];
      }
    }
    const measured = textWidth(label, 16);
    expect(left).toBeGreaterThanOrEqual(10);
    expect(left).toBeLessThan(13);
    expect(right - left + 1).toBeGreaterThan(measured - 4);
    expect(right - left + 1).toBeLessThanOrEqual(measured + 1);
    // Centred on y = 20: capitals and descenders ('y', 'p', parentheses) around it.
    expect(top).toBeLessThan(15);
    expect(bottom).toBeGreaterThan(23);
    // Lower case is not capitals: 'a' and 'A' draw differently.
    const ink = async (s: string) => (await renderPixels({ width: 30, height: 30, body: text(5, 15, s, { size: 20, baseline: 'middle' }), images: [] })).data.reduce((n, v) => n + (255 - v), 0);
    expect(await ink('a')).not.toBe(await ink('A'));
  });
});

describe('line chart', () => {
  const falling = Array.from({ length: 200 }, (_, i) => ({ x: (i + 1) / 100, y: 2 * Math.exp(-i / 30) + 0.3 + 0.05 * Math.sin(i * 1.7), weight: 32 }));
  const rising = falling.map((p) => ({ x: p.x, y: 100 - 30 * p.y }));
  const blue = '#1f77b4';
  const orange = '#ff7f0e';
  const panels: LinePanel[] = [
    {
      title: 'Loss (cross-entropy)',
      xLabel: 'Epoch',
      series: [
        { label: 'Training (smoothed)', color: blue, points: falling, smooth: true },
        { label: 'Test', color: orange, points: [1, 2].map((x) => ({ x, y: 0.6 / x })), style: 'markers' },
      ],
    },
    { title: 'Accuracy (%)', xLabel: 'Epoch', yBounds: [0, 100], series: [{ label: 'Training', color: blue, points: rising }] },
  ];

  it('renders titles, ticks and curves, sized as laid out', async () => {
    const fig = lineChart(panels, { title: 'A test chart', panelWidth: 420, panelHeight: 300 });
    const layout = lineChartLayout(panels, { title: 'A test chart', panelWidth: 420, panelHeight: 300 });
    const img = await renderPixels(fig);
    expect([img.width, img.height]).toEqual([fig.width, fig.height]);
    expect([layout.width, layout.height]).toEqual([fig.width, fig.height]);
    // The title's ink in the band above the panels, centred.
    expect(countIn(img, { x: fig.width / 2 - 60, y: 8, width: 120, height: 30 }, ink)).toBeGreaterThan(60);
    const [loss, accuracy] = layout.panels as [(typeof layout.panels)[0], (typeof layout.panels)[0]];
    // Tick labels left of the plot and under it.
    expect(countIn(img, { x: loss.plot.x - 40, y: loss.plot.y, width: 36, height: loss.plot.height }, tickInk)).toBeGreaterThan(15);
    expect(countIn(img, { x: loss.plot.x, y: loss.plot.y + loss.plot.height + 6, width: loss.plot.width, height: 16 }, tickInk)).toBeGreaterThan(50);
    // The smoothed curve in solid blue; the raw one faint behind it (a light blue).
    expect(countIn(img, loss.plot, near(hex(blue), 12))).toBeGreaterThan(200);
    expect(countIn(img, loss.plot, (rgb) => rgb[2]! > 200 && rgb[0]! > 150 && rgb[0]! < 235 && rgb[2]! - rgb[0]! > 20)).toBeGreaterThan(50);
    // The test markers in orange.
    expect(countIn(img, loss.plot, near(hex(orange), 12))).toBeGreaterThan(40);
    // The loss falls: blue ink sits high on the left and low on the right.
    const third = loss.plot.width / 3;
    const meanY = (x0: number) => {
      let [sum, n] = [0, 0];
      for (let y = Math.ceil(loss.plot.y); y < loss.plot.y + loss.plot.height; y++) {
        for (let x = Math.ceil(x0); x < x0 + third; x++) if (near(hex(blue), 12)(rgbAt(img, x, y))) [sum, n] = [sum + y, n + 1];
      }
      return sum / n;
    };
    expect(meanY(loss.plot.x)).toBeLessThan(meanY(loss.plot.x + 2 * third) - 60);
    // A fitted y axis stays within its bounds.
    expect(accuracy.y.hi).toBeLessThanOrEqual(100);
  });

  it('puts each legend where no data is, with its text drawn there', async () => {
    const fig = lineChart(panels, { panelWidth: 420, panelHeight: 300 });
    const layout = lineChartLayout(panels, { panelWidth: 420, panelHeight: 300 });
    const img = await renderPixels(fig);
    // Falling loss: the top-right corner is free; rising accuracy: the bottom-right.
    expect(layout.panels.map((p) => p.legendPlace)).toEqual(['top-right', 'bottom-right']);
    for (const p of layout.panels) {
      const { legend } = p;
      // Label text in the legend box, right of the swatches.
      const labels = { x: legend.x + 36, y: legend.y, width: legend.width - 36, height: legend.height };
      expect(countIn(img, labels, ink)).toBeGreaterThan(40);
      // No data inside the legend box: series colours only in the swatch column.
      expect(countIn(img, labels, near(hex(blue), 40))).toBe(0);
      expect(countIn(img, labels, near(hex(orange), 40))).toBe(0);
    }
  });

  it('moves the legend below the plot when data fills every corner', async () => {
    const zigzag = Array.from({ length: 41 }, (_, i) => ({ x: i, y: i % 2 }));
    const busy: LinePanel[] = [{ title: 'Busy', xLabel: 'Step', series: [{ label: 'Zigzag', color: blue, points: zigzag }] }];
    const layout = lineChartLayout(busy, { panelWidth: 300, panelHeight: 240 });
    const p = layout.panels[0]!;
    expect(p.legendPlace).toBe('below');
    expect(p.legend.y).toBeGreaterThan(p.plot.y + p.plot.height + 20);
    const img = await renderPixels(lineChart(busy, { panelWidth: 300, panelHeight: 240 }));
    expect(countIn(img, { x: p.legend.x + 32, y: p.legend.y, width: p.legend.width - 32, height: p.legend.height }, ink)).toBeGreaterThan(20);
  });

  it('shows no spike for a partial last batch (weights), unlike unweighted points', () => {
    // Constant loss 0.5 in batches of 32, and at the end of each epoch a batch of 2 with loss 5.
    const steps = Array.from({ length: 300 }, (_, i) => ((i + 1) % 100 === 0 ? { x: i, y: 5, weight: 2 } : { x: i, y: 0.5, weight: 32 }));
    const chart = (points: Array<{ x: number; y: number; weight?: number }>) => lineChartLayout([{ title: 'Loss', xLabel: 'Step', series: [{ label: 'Training', color: blue, points, smooth: true }] }]).panels[0]!;
    expect(chart(steps).y.hi).toBeLessThan(0.8);
    expect(chart(steps.map((p) => ({ x: p.x, y: p.y }))).y.hi).toBeGreaterThan(4.5);
  });

  it('refuses empty charts and bad ranges', () => {
    expect(() => lineChart([])).toThrow('lineChart: expected at least one panel');
    expect(() => lineChart([{ title: 'Empty', xLabel: 'x', series: [] }])).toThrow("lineChart: panel 'Empty' has no series");
    expect(() => lineChart([{ title: 'Flat', xLabel: 'x', yRange: [1, 1], series: [{ label: 'a', color: blue, points: [{ x: 0, y: 1 }] }] }])).toThrow(
      "lineChart: 'Flat' has yRange [1, 1]; expected lo < hi",
    );
  });
});

describe('bar chart', () => {
  it('draws bars as long as their values, with labels and percentages', async () => {
    const bars = [
      { label: 'Ankle boot', value: 0.8 },
      { label: 'Sneaker', value: 0.4 },
      { label: 'Sandal', value: 0.1 },
    ];
    const color = '#1f77b4';
    const fig = barChart(bars, { title: 'Top-3', width: 500, color });
    const img = await renderPixels(fig);
    expect([img.width, img.height]).toEqual([fig.width, fig.height]);
    // Each bar: the longest run of its colour on some row.
    const runs: number[] = [];
    for (let y = 0; y < img.height; y++) {
      let [run, best] = [0, 0];
      for (let x = 0; x < img.width; x++) {
        run = near(hex(color), 6)(rgbAt(img, x, y)) ? run + 1 : 0;
        best = Math.max(best, run);
      }
      if (best > 5 && (runs.length === 0 || Math.abs(runs.at(-1)! - best) > 3)) runs.push(best);
    }
    expect(runs.length).toBe(3);
    expect(runs[1]! / runs[0]!).toBeCloseTo(0.5, 1);
    expect(runs[2]! / runs[0]!).toBeCloseTo(0.125, 1);
    // Class names on the left, values written: ink on both sides of the bars.
    expect(countIn(img, { x: 0, y: 40, width: 90, height: 90 }, ink)).toBeGreaterThan(100);
    expect(toSvg(fig)).toContain('>80.0%<');
    expect(() => barChart([{ label: 'x', value: NaN }])).toThrow("barChart: bar 0 ('x') has value NaN; expected a number >= 0");
  });
});

describe('images', () => {
  const checker: RgbaImage = { width: 2, height: 2, data: Uint8Array.of(255, 0, 0, 255, 0, 0, 255, 255, 0, 255, 0, 255, 255, 255, 255, 255) };

  it('scales by whole factors up, by box averages down', () => {
    expect(displaySize(7, 7, 96)).toEqual({ width: 91, height: 91 });
    expect(displaySize(28, 14, 64)).toEqual({ width: 56, height: 28 });
    expect(displaySize(200, 100, 50)).toEqual({ width: 50, height: 25 });
    const big = resizeRgba(checker, 4, 4);
    expect(Array.from(big.data.subarray(0, 16))).toEqual([255, 0, 0, 255, 255, 0, 0, 255, 0, 0, 255, 255, 0, 0, 255, 255]);
    const stripes: RgbaImage = { width: 4, height: 1, data: Uint8Array.of(0, 0, 0, 255, 255, 255, 255, 255, 0, 0, 0, 255, 255, 255, 255, 255) };
    expect(Array.from(resizeRgba(stripes, 2, 1).data)).toEqual([128, 128, 128, 255, 128, 128, 128, 255]);
  });

  it('normalises float maps per map, draws NaN magenta', () => {
    const grey = scalarToRgba({ width: 3, height: 1, values: [2, 4, NaN] });
    expect(Array.from(grey.data)).toEqual([0, 0, 0, 255, 255, 255, 255, 255, 255, 0, 255, 255]);
    const flat = scalarToRgba({ width: 2, height: 1, values: [3, 3] }, { colormap: 'viridis' });
    expect(Array.from(flat.data.subarray(0, 3))).toEqual(hex('#440154'));
    const ranged = scalarToRgba({ width: 1, height: 1, values: [0.5] }, { range: [0, 1], colormap: 'viridis' });
    expect(Array.from(ranged.data.subarray(0, 3))).toEqual(colormap('viridis', 0.5).map(Math.round));
    expect(() => scalarToRgba({ width: 2, height: 2, values: [1] })).toThrow('scalarToRgba: a 2x2 map needs 4 values, got 1');
  });

  it('upsamples bilinearly as PyTorch does (align_corners=False)', () => {
    const up = resizeBilinear({ width: 2, height: 2, values: [0, 1, 2, 3] }, 4, 4);
    expect(Array.from(up.values)).toEqual([0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3]);
  });

  it('grids images pixel-exact with their labels and frames', async () => {
    const cells = [
      { image: checker, label: ['layer1.0 · channel 12', 'second line'], color: '#d7191c' },
      { image: scalarToRgba({ width: 3, height: 1, values: [0, 1, 2] }), label: 'channel 3' },
    ];
    const options = { title: 'Feature maps', columns: 2, cellSize: 48, cellWidth: 140 };
    const fig = imageGrid(cells, options);
    const layout = imageGridLayout(cells, options);
    const img = await renderPixels(fig);
    expect([img.width, img.height]).toEqual([layout.width, layout.height]);
    const [a, b] = layout.cells as [{ x: number; y: number; labelY: number }, { x: number; y: number; labelY: number }];
    // 2x2 enlarged 24 times: four solid quadrants.
    expect(countIn(img, { x: a.x + 1, y: a.y + 1, width: 22, height: 22 }, near([255, 0, 0], 0))).toBe(22 * 22);
    expect(countIn(img, { x: a.x + 25, y: a.y + 25, width: 22, height: 22 }, near([255, 255, 255], 0))).toBe(22 * 22);
    expect(countIn(img, { x: a.x + 25, y: a.y + 1, width: 22, height: 22 }, near([0, 0, 255], 0))).toBe(22 * 22);
    // The red frame around the first image.
    expect(countIn(img, { x: a.x - 3, y: a.y - 3, width: 54, height: 3 }, near(hex('#d7191c'), 10))).toBeGreaterThan(140);
    // 3x1 enlarged 16 times, centred vertically on the matte: black, grey, white stripes.
    const top = b.y + 16;
    expect(rgbAt(img, b.x + 8, top + 8)).toEqual([0, 0, 0]);
    expect(rgbAt(img, b.x + 24, top + 8)).toEqual([128, 128, 128]);
    expect(rgbAt(img, b.x + 40, top + 8)).toEqual([255, 255, 255]);
    expect(rgbAt(img, b.x + 24, b.y + 4)).toEqual(hex('#ececec'));
    // Labels: the first line in the frame's colour, the second muted; the plain cell's in ink.
    expect(countIn(img, { x: a.x - 40, y: a.labelY, width: 128, height: 14 }, near(hex('#d7191c'), 40))).toBeGreaterThan(30);
    expect(countIn(img, { x: a.x - 40, y: a.labelY + layout.lineHeight, width: 128, height: 14 }, (rgb) => rgb.every((v) => v > 60 && v < 130))).toBeGreaterThan(20);
    expect(countIn(img, { x: b.x - 40, y: b.labelY, width: 128, height: 14 }, ink)).toBeGreaterThan(20);
    expect(() => imageGrid([{ image: { width: 2, height: 2, data: new Uint8Array(3) } }])).toThrow('imageGrid: image 0: a 2x2 RGBA image needs 16 bytes, got 3');
    expect(() => imageGridLayout(cells, { columns: 0 })).toThrow('imageGrid: columns must be a positive integer, got 0');
  });
});

describe('heat map overlay', () => {
  const grey: RgbaImage = { width: 4, height: 4, data: new Uint8Array(64).map((_, i) => (i % 4 === 3 ? 255 : 128)) };

  it('blends the colour map over the image by heat', () => {
    const heat = { width: 4, height: 4, values: Array.from({ length: 16 }, (_, i) => [0, 1, NaN, 0.5][i % 4]!) };
    const out = blendHeat(grey, heat, 'inferno', 0.6);
    const expected = (t: number) => colormap('inferno', t).map((c) => Math.round((1 - 0.6 * (0.35 + 0.65 * t)) * 128 + 0.6 * (0.35 + 0.65 * t) * c));
    expect(Array.from(out.data.subarray(0, 3))).toEqual(expected(0));
    expect(Array.from(out.data.subarray(4, 7))).toEqual(expected(1));
    expect(Array.from(out.data.subarray(8, 11))).toEqual([128, 128, 128]); // NaN: the image untouched
    expect(Array.from(out.data.subarray(12, 15))).toEqual(expected(0.5));
    expect(() => blendHeat(grey, heat, 'inferno', 2)).toThrow('blendHeat: opacity must be in [0, 1], got 2');
  });

  it('draws image, overlay and a colour bar running from the map\'s 0 to its 1', async () => {
    const heat = { width: 2, height: 2, values: [0, 0, 0, 1] };
    const fig = heatmapOverlay(grey, heat, { title: 'Grad-CAM', size: 160, colormap: 'viridis' });
    const img = await renderPixels(fig);
    expect([img.width, img.height]).toEqual([fig.width, fig.height]);
    expect(fig.images.map((i) => [i.width, i.height])).toEqual([
      [160, 160],
      [160, 160],
    ]);
    // Find the bar: the column right of both pictures whose top is viridis(1) and bottom viridis(0).
    const top = 14 + 15 + 10 + 12 + 6;
    const barX = 14 + 160 + 18 + 160 + 18 + 8;
    for (const row of [2, 40, 80, 120, 157]) {
      const want = colormap('viridis', 1 - (row + 0.5) / 160);
      expect(rgbAt(img, barX, top + row).every((v, c) => Math.abs(v - want[c]!) <= 6), `bar row ${row}: ${rgbAt(img, barX, top + row)} vs ${want}`).toBe(true);
    }
    // Tick labels 0 ... 1 right of the bar.
    expect(countIn(img, { x: barX + 14, y: top - 8, width: 34, height: 170 }, tickInk)).toBeGreaterThan(60);
    // The overlay's hot corner (bottom right) is brighter than its cold one; the plain image is untouched.
    const overlayX = 14 + 160 + 18;
    expect(lightness(rgbAt(img, overlayX + 150, top + 150))).toBeGreaterThan(lightness(rgbAt(img, overlayX + 10, top + 10)) + 20);
    expect(rgbAt(img, 14 + 80, top + 80)).toEqual([128, 128, 128]);
    expect(toSvg(fig)).toContain('>0.75<');
  });
});

describe('SVG and files', () => {
  let dir = '';
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('escapes text and needs an encoder only for raster images', () => {
    const fig = { width: 10, height: 10, body: text(0, 5, 'a < b & "c"', { size: 10 }), images: [] };
    expect(figureSvg(fig)).toContain('>a &lt; b &amp; &quot;c&quot;</text>');
    const withImage = imageGrid([{ image: { width: 1, height: 1, data: Uint8Array.of(1, 2, 3, 255) } }]);
    expect(() => figureSvg(withImage)).toThrow('figure: this figure holds raster images; pass an image encoder to serialise it');
    expect(figureSvg(withImage, () => 'data:image/png;base64,AAAA')).toContain('href="data:image/png;base64,AAAA"');
  });

  it('writes the PNG (and the SVG) atomically; the PNG decodes to the figure size', async () => {
    dir = await mkdtemp(join(tmpdir(), 'figure-'));
    const fig = barChart([{ label: 'Bag', value: 0.5 }]);
    await writeFigure(join(dir, 'bars.png'), fig, { svg: true });
    expect((await readdir(dir)).sort()).toEqual(['bars.png', 'bars.svg']);
    const png = pngjs.PNG.sync.read(await readFile(join(dir, 'bars.png')));
    expect([png.width, png.height]).toEqual([fig.width, fig.height]);
    expect(await readFile(join(dir, 'bars.svg'), 'utf8')).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="560"/);
  });
});
