// A picture of a classifier's predictions: a grid of thumbnails, each framed green (correct) or red
// (wrong) with "PREDICTED / TRUE" underneath in the same colour, and a title counting the correct
// ones. Thumbnails are scaled to fit a square (box-averaged when shrinking, nearest-neighbour
// when enlarging, so small images stay crisp). Text uses the 5x7 bitmap font (capitals).
import { IMAGENET_MEAN, IMAGENET_STD, type RgbaImage } from '../ops/preprocess.js';
import { GLYPH_HEIGHT, GLYPH_WIDTH, textWidth } from './bitmap-font.js';
import { Canvas, type Rgb } from './plot.js';
import { writePngAtomic } from './png-file.js';

export interface Prediction {
  /** The image (any size; RGBA bytes). */
  image: RgbaImage;
  predicted: number;
  actual: number;
}

export interface PredictionGridOptions {
  classNames: readonly string[];
  /** Thumbnails per row; default ceil(sqrt(count)). */
  columns?: number;
  /** The thumbnails' square side in pixels; default 96. */
  thumbnail?: number;
  /** Font pixel size; default 1 below 128-pixel thumbnails, else 2. */
  textScale?: number;
  /** Above the grid; default "N OF M CORRECT". */
  title?: string;
}

export const CORRECT_COLOR: Rgb = [30, 150, 40];
export const WRONG_COLOR: Rgb = [215, 30, 30];
const INK: Rgb = [30, 30, 30];
const BACKGROUND: Rgb = [255, 255, 255];
const MATTE: Rgb = [235, 235, 235];

const BORDER = 3;
const GAP = 8;
const MARGIN = 10;
const TITLE_SCALE = 2;

/** Where everything goes: thumbnails' top-left corners (inside their borders) and label lines. */
export interface PredictionGridLayout {
  width: number;
  height: number;
  thumbnail: number;
  border: number;
  textScale: number;
  columns: number;
  /** Per item: the thumbnail's top-left pixel and the top of its first label line. */
  cells: Array<{ x: number; y: number; labelY: number }>;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new Error(`predictionGrid: ${name} must be a positive integer, got ${v}`);
  return v;
}

export function predictionGridLayout(count: number, options: Omit<PredictionGridOptions, 'classNames' | 'title'> = {}): PredictionGridLayout {
  positiveInt('the number of images', count);
  const columns = Math.min(count, positiveInt('columns', options.columns ?? Math.ceil(Math.sqrt(count))));
  const thumbnail = positiveInt('thumbnail', options.thumbnail ?? 96);
  const textScale = positiveInt('textScale', options.textScale ?? (thumbnail < 128 ? 1 : 2));
  const lineHeight = (GLYPH_HEIGHT + 3) * textScale;
  const cellWidth = thumbnail + 2 * BORDER;
  const cellHeight = cellWidth + 4 + 2 * lineHeight;
  const top = MARGIN + GLYPH_HEIGHT * TITLE_SCALE + MARGIN;
  const rows = Math.ceil(count / columns);
  const cells = Array.from({ length: count }, (_, i) => {
    const x = MARGIN + (i % columns) * (cellWidth + GAP) + BORDER;
    const y = top + Math.floor(i / columns) * (cellHeight + GAP) + BORDER;
    return { x, y, labelY: y + thumbnail + BORDER + 4 };
  });
  return {
    width: 2 * MARGIN + columns * cellWidth + (columns - 1) * GAP,
    height: top + rows * cellHeight + (rows - 1) * GAP + MARGIN,
    thumbnail,
    border: BORDER,
    textScale,
    columns,
    cells,
  };
}

/** Draws `image` scaled to fit a side x side square at (x, y), centred on a light matte. */
function drawThumbnail(canvas: Canvas, image: RgbaImage, x: number, y: number, side: number): void {
  canvas.fillRect(x, y, side, side, MATTE);
  const fit = side / Math.max(image.width, image.height);
  const w = Math.max(1, Math.round(image.width * fit));
  const h = Math.max(1, Math.round(image.height * fit));
  const [ox, oy] = [x + Math.floor((side - w) / 2), y + Math.floor((side - h) / 2)];
  const rgb: [number, number, number] = [0, 0, 0];
  for (let ty = 0; ty < h; ty++) {
    const y0 = Math.floor((ty * image.height) / h);
    const y1 = Math.max(y0 + 1, Math.floor(((ty + 1) * image.height) / h));
    for (let tx = 0; tx < w; tx++) {
      const x0 = Math.floor((tx * image.width) / w);
      const x1 = Math.max(x0 + 1, Math.floor(((tx + 1) * image.width) / w));
      rgb.fill(0);
      for (let sy = y0; sy < y1; sy++) {
        for (let sx = x0; sx < x1; sx++) for (let c = 0; c < 3; c++) rgb[c] += image.data[(sy * image.width + sx) * 4 + c]!;
      }
      const n = (y1 - y0) * (x1 - x0);
      canvas.pixel(ox + tx, oy + ty, [Math.round(rgb[0] / n), Math.round(rgb[1] / n), Math.round(rgb[2] / n)]);
    }
  }
}

/** `text` cut to `chars` characters, marking a cut with a trailing '.'. */
function fitText(text: string, chars: number): string {
  return text.length <= chars ? text : `${text.slice(0, Math.max(0, chars - 1)).trimEnd()}.`;
}

/** The label as one line "PRED / TRUE" when it fits `chars` characters, else "PRED /" over "TRUE" (each cut to fit). */
export function predictionLabel(predicted: string, actual: string, chars: number): string[] {
  const one = `${predicted} / ${actual}`;
  if (one.length <= chars) return [one];
  return [`${fitText(predicted, chars - 2)} /`, fitText(actual, chars)];
}

function className(names: readonly string[], k: number): string {
  return names[k] ?? String(k);
}

/** Renders the grid; wrong predictions framed and labelled red, correct ones green. */
export function renderPredictionGrid(items: readonly Prediction[], options: PredictionGridOptions): Canvas {
  if (items.length === 0) throw new Error('predictionGrid: expected at least one image');
  items.forEach(({ image }, i) => {
    const { width, height, data } = image;
    if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0 && data.length === width * height * 4)) {
      throw new Error(`predictionGrid: image ${i} is not a ${width}x${height} RGBA image (${data.length} bytes)`);
    }
  });
  const layout = predictionGridLayout(items.length, options);
  const { thumbnail, border, textScale } = layout;
  const canvas = new Canvas(layout.width, layout.height, BACKGROUND);
  const correct = items.filter((p) => p.predicted === p.actual).length;
  const title = options.title ?? `${correct} OF ${items.length} CORRECT`;
  canvas.text(MARGIN, MARGIN, fitText(title, Math.floor((layout.width - 2 * MARGIN + TITLE_SCALE) / ((GLYPH_WIDTH + 1) * TITLE_SCALE))), INK, TITLE_SCALE);
  const chars = Math.floor((thumbnail + 2 * border + textScale) / ((GLYPH_WIDTH + 1) * textScale));
  items.forEach((item, i) => {
    const { x, y, labelY } = layout.cells[i]!;
    const color = item.predicted === item.actual ? CORRECT_COLOR : WRONG_COLOR;
    canvas.fillRect(x - border, y - border, thumbnail + 2 * border, thumbnail + 2 * border, color);
    drawThumbnail(canvas, item.image, x, y, thumbnail);
    const lines = predictionLabel(className(options.classNames, item.predicted), className(options.classNames, item.actual), chars);
    lines.forEach((line, k) => {
      const lx = x - border + Math.floor((thumbnail + 2 * border - textWidth(line, textScale)) / 2);
      canvas.text(lx, labelY + k * (GLYPH_HEIGHT + 3) * textScale, line, color, textScale);
    });
  });
  return canvas;
}

/**
 * Images back from a normalised batch [N, C, H, W] (C = 1 or 3) read from the GPU: x * std + mean,
 * clamped to [0, 1], as RGBA bytes (one channel is drawn grey).
 */
export function imagesFromTensor(
  data: Float32Array,
  shape: readonly number[],
  mean: readonly number[] = IMAGENET_MEAN,
  std: readonly number[] = IMAGENET_STD,
): RgbaImage[] {
  const [n, c, h, w] = shape as [number, number, number, number];
  if (shape.length !== 4 || (c !== 1 && c !== 3) || data.length !== n * c * h * w) {
    throw new Error(`imagesFromTensor: expected [N, 1 or 3, H, W] data, got shape [${shape.join(', ')}] with ${data.length} values`);
  }
  if (mean.length !== c || std.length !== c) throw new Error(`imagesFromTensor: mean and std need ${c} values each`);
  const plane = h * w;
  return Array.from({ length: n }, (_, k) => {
    const out = new Uint8Array(plane * 4);
    for (let p = 0; p < plane; p++) {
      for (let ch = 0; ch < 3; ch++) {
        const src = c === 1 ? 0 : ch;
        const v = data[(k * c + src) * plane + p]! * std[src]! + mean[src]!;
        out[p * 4 + ch] = Math.round(255 * Math.min(1, Math.max(0, v)));
      }
      out[p * 4 + 3] = 255;
    }
    return { width: w, height: h, data: out };
  });
}

/** Renders the grid and writes it as a PNG, atomically (a reader never sees a partial file). */
export async function writePredictionGrid(path: string, items: readonly Prediction[], options: PredictionGridOptions): Promise<void> {
  await writePngAtomic(path, renderPredictionGrid(items, options).toImage());
}
