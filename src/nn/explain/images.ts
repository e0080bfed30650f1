// Explanations as pictures for a page or a figure: feature maps one picture per channel (each
// normalised to its own range), heat maps through a perceptual colour map, laid over the image.
// RGBA bytes in ImageData's layout (toImageData wraps them for a canvas); no `node:` imports.
import { colormap, type ColormapName } from '../../figure/colormap.js';
import { blendHeat } from '../../figure/heatmap.js';
import { scalarToRgba, type RgbaImage, type ScalarImage } from '../../figure/image.js';
import { fail } from '../../ops/check.js';
import { shapeString, type Tensor } from '../../runtime/tensor.js';

export type { RgbaImage, ScalarImage };

export interface FeatureMapPicture {
  channel: number;
  image: RgbaImage;
  /** The map's mean activation (what `order: 'active'` sorts by). */
  mean: number;
}

export interface FeatureMapPictureOptions {
  /** 'grey' (default) or a colour map. */
  colormap?: 'grey' | ColormapName;
  /** At most this many channels (default all). */
  limit?: number;
  /** 'index' (default): channels in order; 'active': the highest mean activation first. */
  order?: 'index' | 'active';
}

/**
 * One image's feature maps (host values of shape [C, H, W], or [F] for a fully connected layer,
 * shown as one near-square map) as pictures, each normalised to its own min and max.
 */
export function featureMapPictures(values: ArrayLike<number>, shape: readonly number[], options: FeatureMapPictureOptions = {}): FeatureMapPicture[] {
  const op = 'featureMapPictures';
  const size = shape.reduce((a, b) => a * b, 1);
  if (values.length !== size) fail(op, `${values.length} values for shape ${shapeString(shape)}`);
  let maps: ScalarImage[];
  if (shape.length === 3) {
    const [c, h, w] = shape as [number, number, number];
    maps = Array.from({ length: c }, (_, ch) => ({ width: w, height: h, values: Array.prototype.slice.call(values, ch * h * w, (ch + 1) * h * w) as number[] }));
  } else if (shape.length === 1) {
    const side = Math.ceil(Math.sqrt(size));
    const padded = Float64Array.from({ length: side * Math.ceil(size / side) }, (_, i) => (i < size ? values[i]! : NaN));
    maps = [{ width: side, height: padded.length / side, values: padded }];
  } else {
    fail(op, `expected one image's maps [C, H, W] or features [F], got shape ${shapeString(shape)}`);
  }
  const pictures = maps.map((map, channel) => {
    let sum = 0;
    let count = 0;
    for (let i = 0; i < map.values.length; i++) if (Number.isFinite(map.values[i]!)) [sum, count] = [sum + map.values[i]!, count + 1];
    return { channel, image: scalarToRgba(map, { colormap: options.colormap ?? 'grey' }), mean: count > 0 ? sum / count : NaN };
  });
  if (options.order === 'active') pictures.sort((a, b) => b.mean - a.mean || a.channel - b.channel);
  return pictures.slice(0, options.limit ?? pictures.length);
}

/** Reads image `index` of a layer's output [N, ...] back and makes its pictures (featureMapPictures). */
export async function readFeatureMapPictures(maps: Tensor, index = 0, options: FeatureMapPictureOptions = {}): Promise<FeatureMapPicture[]> {
  const op = 'readFeatureMapPictures';
  if (maps.rank !== 4 && maps.rank !== 2) fail(op, `expected a layer's output [N, C, H, W] or [N, F], got ${shapeString(maps.shape)}`);
  const n = maps.shape[0]!;
  if (!Number.isInteger(index) || index < 0 || index >= n) fail(op, `image index ${index} is out of range for ${n} images`);
  const values = await maps.toArray();
  const per = maps.size / n;
  return featureMapPictures(values.subarray(index * per, (index + 1) * per), maps.shape.slice(1), options);
}

/** A heat map (values in [0, 1], clamped) in a perceptual colour map (default inferno); NaN shows black. */
export function heatmapPicture(heat: ScalarImage, map: ColormapName = 'inferno'): RgbaImage {
  const data = new Uint8Array(heat.width * heat.height * 4);
  for (let p = 0; p < heat.width * heat.height; p++) {
    const v = heat.values[p]!;
    const rgb = Number.isNaN(v) ? [0, 0, 0] : colormap(map, v);
    data.set([Math.round(rgb[0]!), Math.round(rgb[1]!), Math.round(rgb[2]!), 255], p * 4);
  }
  return { width: heat.width, height: heat.height, data };
}

/** The heat map blended over the image (resampled to it), hot regions mostly colour, cold ones mostly image. */
export function heatmapOverlayPicture(image: RgbaImage, heat: ScalarImage, options: { colormap?: ColormapName; opacity?: number } = {}): RgbaImage {
  return blendHeat(image, heat, options.colormap ?? 'inferno', options.opacity ?? 0.6);
}

/** Heat maps [N, 1, H, W] on the GPU, read back as one ScalarImage per image. */
export async function readHeatmaps(heatmaps: Tensor): Promise<ScalarImage[]> {
  if (heatmaps.rank !== 4 || heatmaps.shape[1] !== 1) fail('readHeatmaps', `expected heat maps [N, 1, H, W], got ${shapeString(heatmaps.shape)}`);
  const [n, , h, w] = heatmaps.shape as [number, number, number, number];
  const values = await heatmaps.toArray();
  return Array.from({ length: n }, (_, i) => ({ width: w, height: h, values: values.slice(i * h * w, (i + 1) * h * w) }));
}

/** A browser ImageData of the picture, for a canvas's putImageData (needs ImageData: a browser or a worker). */
export function toImageData(image: RgbaImage): ImageData {
  const Ctor = (globalThis as { ImageData?: typeof ImageData }).ImageData;
  if (!Ctor) throw new Error('toImageData: ImageData is not available here (a browser or a worker has it); use the RGBA bytes directly');
  return new Ctor(new Uint8ClampedArray(image.data), image.width, image.height);
}
