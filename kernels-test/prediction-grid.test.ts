// The prediction grid picture (src/cli/prediction-grid.ts), rendered to PNG and checked by
// pixels: frames and first label lines green where right and red where wrong, the true class
// under a wrong one, images drawn; un-normalising a batch; the atomic PNG write.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pngjs from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { renderPixels, toSvg } from '../src/cli/figure-file.js';
import { imagesFromTensor, predictionGrid, predictionLabel, writePredictionGrid, type Prediction } from '../src/cli/prediction-grid.js';
import { imageGridLayout } from '../src/figure/image-grid.js';
import { CORRECT_COLOR, WRONG_COLOR } from '../src/figure/style.js';
import type { RgbaImage } from '../src/ops/preprocess.js';

type Rgb = readonly [number, number, number];

/** An image filled by `color(x, y)`. */
function paint(width: number, height: number, color: (x: number, y: number) => Rgb): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set([...color(x, y), 255], (y * width + x) * 4);
  return { width, height, data };
}

const hex = (css: string): number[] => [1, 3, 5].map((i) => parseInt(css.slice(i, i + 2), 16));

function count(img: { width: number; data: Uint8Array }, x0: number, y0: number, w: number, h: number, want: number[], tol: number): number {
  let n = 0;
  for (let y = Math.round(y0); y < Math.round(y0 + h); y++) {
    for (let x = Math.round(x0); x < Math.round(x0 + w); x++) {
      const i = (y * img.width + x) * 4;
      if (want.every((v, c) => Math.abs(img.data[i + c]! - v) <= tol)) n++;
    }
  }
  return n;
}

const BLUE: Rgb = [20, 40, 200];
const YELLOW: Rgb = [250, 220, 0];
const classNames = ['cat', 'dog', 'horse', 'ship'];

describe('predictionGrid', () => {
  const items: Prediction[] = [
    { image: paint(10, 10, () => BLUE), predicted: 0, actual: 0 },
    { image: paint(20, 10, (x) => (x < 10 ? YELLOW : BLUE)), predicted: 1, actual: 2 },
    { image: paint(7, 13, () => YELLOW), predicted: 3, actual: 3 },
    { image: paint(80, 80, (x) => (x % 2 ? [255, 255, 255] : [0, 0, 0])), predicted: 0, actual: 5 },
  ];
  const options = { classNames, columns: 2, thumbnail: 40 };

  it('labels each image with its prediction, and the true class when wrong', () => {
    expect(predictionLabel('dog', 'dog')).toEqual(['dog']);
    expect(predictionLabel('dog', 'horse')).toEqual(['dog', 'true: horse']);
    const svg = toSvg(predictionGrid(items, options));
    expect(svg).toContain('>2 of 4 correct</text>');
    expect(svg).toContain('>true: horse</text>');
    expect(svg).toContain('>true: class 5</text>'); // a class without a name
  });

  it('frames right predictions green and wrong ones red, with the label in the same colour', async () => {
    const fig = predictionGrid(items, options);
    const img = await renderPixels(fig);
    const layout = imageGridLayout(
      items.map((p) => ({ image: p.image, color: '#000000', label: predictionLabel('a', p.predicted === p.actual ? 'a' : 'b') })),
      { title: 'x', subtitle: 'x', columns: 2, cellSize: 40, cellWidth: 104 },
    );
    expect([img.width, img.height]).toEqual([layout.width, layout.height]);
    items.forEach((item, i) => {
      const { x, y, labelY } = layout.cells[i]!;
      const right = item.predicted === item.actual;
      const [mine, other] = right ? [hex(CORRECT_COLOR), hex(WRONG_COLOR)] : [hex(WRONG_COLOR), hex(CORRECT_COLOR)];
      // The frame: 3 pixels wide on each side of the 40-pixel square.
      expect(count(img, x - 3, y - 3, 46, 3, mine, 8), `cell ${i} top frame`).toBeGreaterThan(120);
      expect(count(img, x - 3, y + 40, 46, 3, mine, 8), `cell ${i} bottom frame`).toBeGreaterThan(120);
      expect(count(img, x - 3, y - 3, 46, 46, other, 8), `cell ${i} other colour`).toBe(0);
      // First label line in the frame colour.
      expect(count(img, x - 32, labelY, 104, 14, mine, 60), `cell ${i} label`).toBeGreaterThan(15);
    });
    // The images: blue fills the first square; the 20x10 image enlarged twice, yellow then blue.
    const [c0, c1] = layout.cells;
    expect(count(img, c0!.x, c0!.y, 40, 40, [...BLUE], 0)).toBe(1600);
    expect(count(img, c1!.x, c1!.y + 10, 20, 20, [...YELLOW], 0)).toBe(400);
    expect(count(img, c1!.x + 20, c1!.y + 10, 20, 20, [...BLUE], 0)).toBe(400);
    // 1-pixel stripes shrunk 2x: an even grey.
    const c3 = layout.cells[3]!;
    expect(count(img, c3.x, c3.y, 40, 40, [128, 128, 128], 1)).toBe(1600);
  });

  it('refuses nothing to draw and a bad image', () => {
    expect(() => predictionGrid([], { classNames })).toThrow('predictionGrid: expected at least one image');
    expect(() => predictionGrid([{ image: { width: 2, height: 2, data: new Uint8Array(3) }, predicted: 0, actual: 0 }], { classNames })).toThrow(
      'imageGrid: image 0: a 2x2 RGBA image needs 16 bytes, got 3',
    );
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

  it('writes the grid as a PNG of the figure\'s size, leaving no temporary file', async () => {
    dir = await mkdtemp(join(tmpdir(), 'prediction-grid-'));
    const items: Prediction[] = Array.from({ length: 16 }, (_, i) => ({
      image: paint(12 + i, 12, (x, y) => [(x * 20) % 256, (y * 20) % 256, i * 15]),
      predicted: i % 4,
      actual: i % 5 === 0 ? (i + 1) % 4 : i % 4,
    }));
    const path = join(dir, 'grid.png');
    await writePredictionGrid(path, items, { classNames });
    const decoded = pngjs.PNG.sync.read(await readFile(path));
    const fig = predictionGrid(items, { classNames });
    expect([decoded.width, decoded.height]).toEqual([fig.width, fig.height]);
    expect(Buffer.compare(decoded.data, Buffer.from((await renderPixels(fig)).data))).toBe(0);
    expect(await readdir(dir)).toEqual(['grid.png']);
  });
});
