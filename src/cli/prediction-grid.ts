// A picture of a classifier's predictions: a grid of the images, each framed green (right) or red
// (wrong), labelled with the predicted class and, when wrong, the true one; the title counts the
// right ones. Built on the figure module's image grid; written as PNG.
import { imageGrid } from '../figure/image-grid.js';
import { CORRECT_COLOR, WRONG_COLOR } from '../figure/style.js';
import type { Figure } from '../figure/svg.js';
import { IMAGENET_MEAN, IMAGENET_STD, type RgbaImage } from '../ops/preprocess.js';
import { writeFigure } from './figure-file.js';

export interface Prediction {
  /** The image (any size; RGBA bytes). */
  image: RgbaImage;
  predicted: number;
  actual: number;
}

export interface PredictionGridOptions {
  classNames: readonly string[];
  /** Images per row; default about square. */
  columns?: number;
  /** The images' square side in pixels; default 96. */
  thumbnail?: number;
  /** Above the grid; default "N of M correct". */
  title?: string;
}

function className(names: readonly string[], k: number): string {
  return names[k] ?? `class ${k}`;
}

/** The label lines of one prediction: the predicted class, and "true: X" when that is wrong. */
export function predictionLabel(predicted: string, actual: string): string[] {
  return predicted === actual ? [predicted] : [predicted, `true: ${actual}`];
}

export function predictionGrid(items: readonly Prediction[], options: PredictionGridOptions): Figure {
  if (items.length === 0) throw new Error('predictionGrid: expected at least one image');
  const correct = items.filter((p) => p.predicted === p.actual).length;
  const thumbnail = options.thumbnail ?? 96;
  return imageGrid(
    items.map((item) => {
      const right = item.predicted === item.actual;
      return {
        image: item.image,
        color: right ? CORRECT_COLOR : WRONG_COLOR,
        label: predictionLabel(className(options.classNames, item.predicted), className(options.classNames, item.actual)),
      };
    }),
    {
      title: options.title ?? `${correct} of ${items.length} correct`,
      subtitle: 'Label: the predicted class; green frame when right, red when wrong (then the true class under it).',
      ...(options.columns === undefined ? {} : { columns: options.columns }),
      cellSize: thumbnail,
      // Room for a class name like "Ankle boot" under a small image.
      cellWidth: Math.max(thumbnail, 104),
    },
  );
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
  await writeFigure(path, predictionGrid(items, options));
}
