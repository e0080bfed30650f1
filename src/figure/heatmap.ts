// A heat map (e.g. Grad-CAM, values in [0, 1]) blended over its image with a perceptual colour
// map, the image alone beside it for comparison, and a colour bar with its scale.
import { colormap, colormapCss, type ColormapName } from './colormap.js';
import { checkRgba, checkScalar, displaySize, resizeBilinear, resizeRgba, type RgbaImage, type ScalarImage } from './image.js';
import { AXIS, MUTED_INK, SIZES } from './style.js';
import { el, imageRef, text, type Figure } from './svg.js';
import { fitText, textWidth } from './text-metrics.js';
import { formatTick } from './ticks.js';

export interface HeatmapOptions {
  title?: string;
  /** Captions over the two pictures; default "Image" and "Heat map". */
  imageCaption?: string;
  overlayCaption?: string;
  /** Default 'inferno'. */
  colormap?: ColormapName;
  /** How much of the colour covers the image at full heat, in [0, 1]; default 0.6. */
  opacity?: number;
  /** The longer side of each picture in pixels; default 288. */
  size?: number;
  /** Draw the image alone beside the overlay; default true. */
  showImage?: boolean;
  /** Label of the colour bar; default none. */
  scaleLabel?: string;
}

/**
 * The image with `heat` on top: heat is upsampled bilinearly to the picture, clamped to [0, 1],
 * and blended with weight opacity x (0.35 + 0.65 x heat), so cold regions show the image almost
 * as it is and hot ones mostly the colour. NaN heat leaves the image untouched.
 */
export function blendHeat(image: RgbaImage, heat: ScalarImage, map: ColormapName, opacity: number): RgbaImage {
  checkRgba(image, 'blendHeat: image');
  checkScalar(heat, 'blendHeat: heat');
  if (!(opacity >= 0 && opacity <= 1)) throw new Error(`blendHeat: opacity must be in [0, 1], got ${opacity}`);
  const h = heat.width === image.width && heat.height === image.height ? heat : resizeBilinear(heat, image.width, image.height);
  const out = new Uint8Array(image.data.length);
  for (let p = 0; p < image.width * image.height; p++) {
    const v = h.values[p]!;
    const t = Math.min(1, Math.max(0, v));
    const a = Number.isNaN(v) ? 0 : opacity * (0.35 + 0.65 * t);
    const rgb = Number.isNaN(v) ? [0, 0, 0] : colormap(map, t);
    for (let c = 0; c < 3; c++) out[p * 4 + c] = Math.round((1 - a) * image.data[p * 4 + c]! + a * rgb[c]!);
    out[p * 4 + 3] = 255;
  }
  return { width: image.width, height: image.height, data: out };
}

const PAD = 14;
const GAP = 18;
const BAR_WIDTH = 16;

export function heatmapOverlay(image: RgbaImage, heat: ScalarImage, options: HeatmapOptions = {}): Figure {
  checkRgba(image, 'heatmapOverlay: image');
  checkScalar(heat, 'heatmapOverlay: heat');
  const map = options.colormap ?? 'inferno';
  const size = options.size ?? 288;
  const showImage = options.showImage ?? true;
  // Pictures at display size (small images enlarged by a whole factor), the heat resampled onto it.
  const { width: w, height: h } = displaySize(image.width, image.height, size);
  const base = w === image.width && h === image.height ? image : resizeRgba(image, w, h);
  const overlay = blendHeat(base, heat, map, options.opacity ?? 0.6);

  const parts: string[] = [];
  const images: RgbaImage[] = [];
  let top = PAD;
  const pictures = showImage ? 2 : 1;
  // The colour bar's column: the bar and its tick labels, or its label (over it, from its left edge) where that is wider.
  const barColumn = Math.max(BAR_WIDTH + 8 + 36, options.scaleLabel ? Math.ceil(textWidth(options.scaleLabel, SIZES.caption)) : 0);
  const width = 2 * PAD + pictures * w + (pictures - 1) * GAP + GAP + barColumn;
  if (options.title) {
    parts.push(text(PAD, top, fitText(options.title, width - 2 * PAD, SIZES.panelTitle), { size: SIZES.panelTitle, baseline: 'hanging' }));
    top += SIZES.panelTitle + 10;
  }
  const captionTop = top;
  top += SIZES.caption + 6;
  let x = PAD;
  const picture = (pixels: RgbaImage, caption: string): void => {
    parts.push(text(x + w / 2, captionTop, fitText(caption, w, SIZES.caption), { size: SIZES.caption, anchor: 'middle', baseline: 'hanging', fill: MUTED_INK }));
    images.push(pixels);
    parts.push(imageRef(images.length - 1, x, top, w, h));
    x += w + GAP;
  };
  if (showImage) picture(base, options.imageCaption ?? 'Image');
  picture(overlay, options.overlayCaption ?? 'Heat map');

  // Colour bar: a vertical gradient, 0 at the bottom, 1 at the top, ticks every 0.25.
  const stops = Array.from({ length: 33 }, (_, i) => el('stop', { offset: `${(i / 32) * 100}%`, 'stop-color': colormapCss(map, 1 - i / 32) })).join('');
  parts.push(el('defs', {}, el('linearGradient', { id: 'heat-scale', x1: 0, y1: 0, x2: 0, y2: 1 }, stops)));
  parts.push(el('rect', { x, y: top, width: BAR_WIDTH, height: h, fill: 'url(#heat-scale)', stroke: AXIS, 'stroke-width': 0.8 }));
  for (let q = 0; q <= 4; q++) {
    const y = top + h - (q / 4) * h;
    parts.push(el('line', { x1: x + BAR_WIDTH, x2: x + BAR_WIDTH + 4, y1: y, y2: y, stroke: AXIS, 'stroke-width': 1 }));
    parts.push(text(x + BAR_WIDTH + 7, y, formatTick(q / 4, 0.25), { size: SIZES.tick, baseline: 'middle', fill: MUTED_INK }));
  }
  if (options.scaleLabel) {
    parts.push(text(x, captionTop, options.scaleLabel, { size: SIZES.caption, baseline: 'hanging', fill: MUTED_INK }));
  }
  return { width, height: top + h + PAD, body: parts.join(''), images };
}
