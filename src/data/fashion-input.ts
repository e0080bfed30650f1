// Any picture as a Fashion-MNIST model sees its inputs. Fashion-MNIST's images were made from
// product photos by trimming the background, resizing the longer side to 28 pixels, centring on
// a 28x28 canvas and negating (Xiao et al., 2017): a bright object on a black background. A user's
// image goes through the same steps:
//   1. transparent pixels are laid over white, then every pixel becomes its luma
//      (0.299 R + 0.587 G + 0.114 B, as PIL's convert('L'));
//   2. the background level is the median of the border pixels; when it is light (over 127.5) the
//      image is inverted, so the object is bright on dark like the training data;
//   3. the background level becomes 0 and white 255 (levels stretched linearly, darker clamped);
//   4. the image is trimmed to the box of the pixels brighter than 3% of white (all of it when none
//      is), so faint edges (and noise) darker than that fall outside;
//   5. the box is resized, keeping its aspect ratio, so its longer side is 28 pixels (area
//      averaging: every source pixel counts by the share of it an output pixel covers);
//   6. it is centred on a black 28x28 canvas (the shorter side padded; an odd leftover pixel goes
//      before the object, as in Fashion-MNIST);
//   7. pixels are normalised as in training: (x / 255 - 0.2860) / 0.3530.
// Pure TypeScript (no `node:`): the same conversion runs in a browser on a canvas's ImageData.
import type { Engine } from '../runtime/engine.js';
import type { Tensor } from '../runtime/tensor.js';
import type { RgbaImage } from '../ops/preprocess.js';
import { IMAGE_SIDE, PIXELS, normalisationTable } from './fashion-mnist.js';

/** Pixels brighter than this share of white (after steps 1-3) belong to the object when trimming. */
const OBJECT_LEVEL = 0.03 * 255;

export interface FashionPixels {
  /** 28 x 28 bytes, row-major, bright object on black: a Fashion-MNIST image. */
  pixels: Uint8Array;
  /** Whether the image was inverted (its background was light). */
  inverted: boolean;
}

function checkImage(image: RgbaImage, what: string): void {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw new Error(`${what}: expected a positive integer width and height, got ${width}x${height}`);
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray) || data.length !== width * height * 4) {
    throw new Error(`${what}: a ${width}x${height} RGBA image needs ${width * height * 4} bytes (Uint8Array or Uint8ClampedArray), got ${data?.length}`);
  }
}

/** Steps 1: luma over white, one float per pixel. */
function luma(image: RgbaImage): Float64Array {
  const { width, height, data } = image;
  const out = new Float64Array(width * height);
  for (let p = 0; p < out.length; p++) {
    const alpha = data[p * 4 + 3]! / 255;
    const y = 0.299 * data[p * 4]! + 0.587 * data[p * 4 + 1]! + 0.114 * data[p * 4 + 2]!;
    out[p] = alpha * y + (1 - alpha) * 255;
  }
  return out;
}

function borderMedian(gray: Float64Array, width: number, height: number): number {
  const border: number[] = [];
  for (let x = 0; x < width; x++) border.push(gray[x]!, gray[(height - 1) * width + x]!);
  for (let y = 1; y < height - 1; y++) border.push(gray[y * width]!, gray[y * width + width - 1]!);
  border.sort((a, b) => a - b);
  return border[Math.floor(border.length / 2)]!;
}

/** The smallest box holding every pixel over `level`, or the whole image. */
function objectBox(gray: Float64Array, width: number, height: number): { x0: number; y0: number; x1: number; y1: number } {
  let [x0, y0, x1, y1] = [width, height, -1, -1];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (gray[y * width + x]! > OBJECT_LEVEL) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
    }
  }
  return x1 < 0 ? { x0: 0, y0: 0, x1: width, y1: height } : { x0, y0, x1: x1 + 1, y1: y1 + 1 };
}

/**
 * Area resampling along one axis: `n` source values `stride` apart become `m` values, each the
 * mean of the source span it covers (fractional pixels counted by their covered share).
 */
function resampleAxis(src: Float64Array, count: number, n: number, m: number, srcStride: number, lineStride: number, outStride: number, outLineStride: number, out: Float64Array): void {
  const scale = n / m;
  for (let line = 0; line < count; line++) {
    for (let j = 0; j < m; j++) {
      const [a, b] = [j * scale, (j + 1) * scale];
      let sum = 0;
      for (let i = Math.floor(a); i < Math.min(n, Math.ceil(b)); i++) sum += (Math.min(b, i + 1) - Math.max(a, i)) * src[line * lineStride + i * srcStride]!;
      out[line * outLineStride + j * outStride] = sum / scale;
    }
  }
}

/** Steps 1-6: an image as Fashion-MNIST's 28x28 bytes. */
export function fashionPixels(image: RgbaImage): FashionPixels {
  checkImage(image, 'fashionPixels');
  const { width, height } = image;
  const gray = luma(image);
  const background = borderMedian(gray, width, height);
  const inverted = background > 127.5;
  const level = inverted ? 255 - background : background;
  const stretch = level < 255 ? 255 / (255 - level) : 0;
  for (let p = 0; p < gray.length; p++) {
    const v = inverted ? 255 - gray[p]! : gray[p]!;
    gray[p] = Math.min(255, Math.max(0, (v - level) * stretch));
  }
  const { x0, y0, x1, y1 } = objectBox(gray, width, height);
  const [bw, bh] = [x1 - x0, y1 - y0];
  const scale = IMAGE_SIDE / Math.max(bw, bh);
  const [ow, oh] = [Math.min(IMAGE_SIDE, Math.max(1, Math.round(bw * scale))), Math.min(IMAGE_SIDE, Math.max(1, Math.round(bh * scale)))];
  // Rows first (bh rows of bw -> ow), then columns (ow columns of bh -> oh).
  const rows = new Float64Array(bh * ow);
  resampleAxis(gray.subarray(y0 * width + x0), bh, bw, ow, 1, width, 1, ow, rows);
  const box = new Float64Array(oh * ow);
  resampleAxis(rows, ow, bh, oh, ow, 1, ow, 1, box);
  const pixels = new Uint8Array(PIXELS);
  // Fashion-MNIST puts an odd leftover pixel before the object (left, top), not after it.
  const [left, top] = [Math.ceil((IMAGE_SIDE - ow) / 2), Math.ceil((IMAGE_SIDE - oh) / 2)];
  for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) pixels[(top + y) * IMAGE_SIDE + left + x] = Math.round(box[y * ow + x]!);
  return { pixels, inverted };
}

/** Fashion-MNIST bytes (N images of 784) normalised as in training, on the GPU: [N, 1, 28, 28]. */
export function fashionTensor(engine: Engine, pixels: readonly Uint8Array[]): Tensor {
  const table = normalisationTable();
  const data = new Float32Array(pixels.length * PIXELS);
  pixels.forEach((image, n) => {
    if (image.length !== PIXELS) throw new Error(`fashionTensor: image ${n} has ${image.length} bytes, expected ${PIXELS} (28x28)`);
    for (let i = 0; i < PIXELS; i++) data[n * PIXELS + i] = table[image[i]!]!;
  });
  return engine.tensor(data, [pixels.length, 1, IMAGE_SIDE, IMAGE_SIDE]);
}
