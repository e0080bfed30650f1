// The prediction grid picture (src/cli/prediction-grid.ts): rendered from synthetic images and
// checked pixel by pixel (frames and label ink red where wrong and green where right, thumbnails
// scaled and centred), the label layout, un-normalising a batch, and the atomic PNG write.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pngjs from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CORRECT_COLOR,
  WRONG_COLOR,
  imagesFromTensor,
  predictionGridLayout,
  predictionLabel,
  renderPredictionGrid,
  writePredictionGrid,
  type Prediction,
} from '../src/cli/prediction-grid.js';
import type { Canvas } from '../src/cli/plot.js';
import type { RgbaImage } from '../src/ops/preprocess.js';

type Rgb = readonly [number, number, number];

/** An image filled by `color(x, y)`. */
function paint(width: number, height: number, color: (x: number, y: number) => Rgb): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set([...color(x, y), 255], (y * width + x) * 4);
  return { width, height, data };
}

const at = (c: Canvas, x: number, y: number): number[] => Array.from(c.data.subarray((y * c.width + x) * 4, (y * c.width + x) * 4 + 3));

/** How many pixels of `color` lie in the rectangle. */
function count(c: Canvas, x0: number, y0: number, w: number, h: number, color: Rgb): number {
  let n = 0;
  for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) if (at(c, x, y).every((v, i) => v === color[i])) n++;
  return n;
}

const BLUE: Rgb = [20, 40, 200];
const YELLOW: Rgb = [250, 220, 0];
const CYAN: Rgb = [0, 200, 220];
const classNames = ['cat', 'dog', 'horse', 'ship'];

describe('renderPredictionGrid', () => {
  const items: Prediction[] = [
    { image: paint(10, 10, () => BLUE), predicted: 0, actual: 0 },
    { image: paint(20, 10, (x) => (x < 10 ? YELLOW : CYAN)), predicted: 1, actual: 2 },
    { image: paint(2, 2, (x, y) => ((x + y) % 2 ? [0, 0, 0] : [255, 255, 255])), predicted: 3, actual: 3 },
    { image: paint(80, 80, (x) => (x % 2 ? [255, 255, 255] : [0, 0, 0])), predicted: 2, actual: 2 },
    { image: paint(7, 13, () => YELLOW), predicted: 0, actual: 3 },
  ];
  const options = { classNames, columns: 3, thumbnail: 40 };
  const canvas = renderPredictionGrid(items, options);
  const layout = predictionGridLayout(items.length, options);

  it('lays out rows of `columns` cells', () => {
    expect([canvas.width, canvas.height]).toEqual([layout.width, layout.height]);
    expect(layout.cells.map((c) => c.y)).toEqual([0, 0, 0, 1, 1].map((r) => layout.cells[0]!.y + r * (layout.cells[3]!.y - layout.cells[0]!.y)));
    expect(layout.cells[3]!.y).toBeGreaterThan(layout.cells[0]!.labelY + 2 * 7);
    expect(layout.cells[1]!.x - layout.cells[0]!.x).toBeGreaterThan(40 + 2 * layout.border);
  });

  it('frames wrong predictions red and right ones green, with labels in the same colour', () => {
    items.forEach((item, i) => {
      const { x, y, labelY } = layout.cells[i]!;
      const [mine, other] = item.predicted === item.actual ? [CORRECT_COLOR, WRONG_COLOR] : [WRONG_COLOR, CORRECT_COLOR];
      const b = layout.border;
      // The whole frame, all four sides.
      const frame = 2 * (40 + 2 * b) * b + 2 * 40 * b;
      expect(count(canvas, x - b, y - b, 40 + 2 * b, 40 + 2 * b, mine), `cell ${i} frame`).toBe(frame);
      const label: [number, number, number, number] = [x - b, labelY, 40 + 2 * b, canvas.height - labelY > 30 ? 22 : canvas.height - labelY];
      expect(count(canvas, ...label, mine), `cell ${i} label ink`).toBeGreaterThan(20);
      expect(count(canvas, ...label, other), `cell ${i} other colour`).toBe(0);
    });
  });

  it('fits each image into its square, centred, crisp when enlarged and averaged when shrunk', () => {
    const [c0, c1, c2, c3, c4] = layout.cells as Array<{ x: number; y: number }>;
    expect(count(canvas, c0!.x, c0!.y, 40, 40, BLUE)).toBe(1600);
    // 20x10 -> 40x20, rows 10..29: yellow left half, cyan right half, the light matte above.
    expect(count(canvas, c1!.x, c1!.y + 10, 20, 20, YELLOW)).toBe(400);
    expect(count(canvas, c1!.x + 20, c1!.y + 10, 20, 20, CYAN)).toBe(400);
    expect(at(canvas, c1!.x + 5, c1!.y + 5)).toEqual([235, 235, 235]);
    // A 2x2 checkerboard enlarged 20x: four solid quadrants.
    expect(count(canvas, c2!.x, c2!.y, 20, 20, [255, 255, 255])).toBe(400);
    expect(count(canvas, c2!.x + 20, c2!.y, 20, 20, [0, 0, 0])).toBe(400);
    // 1-pixel stripes shrunk 2x: an even grey.
    expect(count(canvas, c3!.x, c3!.y, 40, 40, [128, 128, 128])).toBe(1600);
    // 7x13 -> 22x40 (round(7 * 40 / 13)), centred: columns 9..30.
    expect(count(canvas, c4!.x, c4!.y, 40, 40, YELLOW)).toBe(22 * 40);
    expect(at(canvas, c4!.x + 9, c4!.y + 20)).toEqual([...YELLOW]);
    expect(at(canvas, c4!.x + 8, c4!.y + 20)).toEqual([235, 235, 235]);
  });

  it('writes "PRED / TRUE" on one line when it fits, else over two, cut to fit', () => {
    expect(predictionLabel('dog', 'horse', 16)).toEqual(['dog / horse']);
    expect(predictionLabel('ankle boot', 'sneaker', 16)).toEqual(['ankle boot /', 'sneaker']);
    expect(predictionLabel('a very long class name', 'another long one', 10)).toEqual(['a very. /', 'another l.']);
  });

  it('refuses nothing to draw, a bad image and bad sizes', () => {
    expect(() => renderPredictionGrid([], { classNames })).toThrow('predictionGrid: expected at least one image');
    expect(() => renderPredictionGrid([{ image: { width: 2, height: 2, data: new Uint8Array(3) }, predicted: 0, actual: 0 }], { classNames })).toThrow(
      'predictionGrid: image 0 is not a 2x2 RGBA image (3 bytes)',
    );
    expect(() => predictionGridLayout(4, { columns: 0 })).toThrow('predictionGrid: columns must be a positive integer, got 0');
    expect(() => predictionGridLayout(4, { thumbnail: 2.5 })).toThrow('predictionGrid: thumbnail must be a positive integer, got 2.5');
  });
});

describe('imagesFromTensor', () => {
  it('undoes the normalisation, clamping to [0, 255], and draws one channel as grey', () => {
    const mean = [0.5, 0.25, 0];
    const std = [0.5, 0.25, 1];
    // One 1x2 image, planes R, G, B: pixel 0 = (1, 1, 0.2) -> (1, 0.5, 0.2); pixel 1 = (5, -9, 0.6)
    // -> (3, -2, 0.6), clamped to (1, 0, 0.6).
    const [rgb] = imagesFromTensor(Float32Array.of(1, 5, 1, -9, 0.2, 0.6), [1, 3, 1, 2], mean, std);
    expect(Array.from(rgb!.data)).toEqual([255, 128, 51, 255, 255, 0, 153, 255]);
    const grey = imagesFromTensor(Float32Array.of(0, 1, 0, -1), [2, 1, 1, 2], [0.5], [0.5]);
    expect(grey.map((g) => Array.from(g.data))).toEqual([
      [128, 128, 128, 255, 255, 255, 255, 255],
      [128, 128, 128, 255, 0, 0, 0, 255],
    ]);
    expect(() => imagesFromTensor(new Float32Array(4), [1, 2, 1, 2])).toThrow('imagesFromTensor: expected [N, 1 or 3, H, W] data, got shape [1, 2, 1, 2] with 4 values');
  });
});

describe('writePredictionGrid', () => {
  let dir = '';
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes the rendered pixels as a PNG, leaving no temporary file', async () => {
    dir = await mkdtemp(join(tmpdir(), 'prediction-grid-'));
    const items: Prediction[] = Array.from({ length: 16 }, (_, i) => ({
      image: paint(12 + i, 12, (x, y) => [(x * 20) % 256, (y * 20) % 256, i * 15]),
      predicted: i % 4,
      actual: i % 5 === 0 ? (i + 1) % 4 : i % 4,
    }));
    const path = join(dir, 'grid.png');
    await writePredictionGrid(path, items, { classNames });
    const decoded = pngjs.PNG.sync.read(await readFile(path));
    const canvas = renderPredictionGrid(items, { classNames });
    expect([decoded.width, decoded.height]).toEqual([canvas.width, canvas.height]);
    expect(Buffer.compare(decoded.data, Buffer.from(canvas.data))).toBe(0);
    expect(await readdir(dir)).toEqual(['grid.png']);
  });
});
