// The figure's common currency: an SVG document as text plus the raster images it shows. Images
// are kept as pixels and referenced by placeholder until serialised, so building a figure needs no
// image encoder (and no `node:`): Node encodes them with pngjs, a browser with a canvas.
import type { RgbaImage } from './image.js';
import { INK } from './style.js';

export interface Figure {
  width: number;
  height: number;
  /** SVG markup of the document's content; `<image>` hrefs are `{{image:N}}` placeholders. */
  body: string;
  /** The raster images the body refers to, by index. */
  images: RgbaImage[];
}

/** Turns an image into something an `<image href>` accepts: a `data:image/png;base64,...` URL. */
export type ImageEncoder = (image: RgbaImage) => string;

/** The font stack: the PNG rasteriser has DejaVu Sans; a browser falls back to its own sans-serif. */
export const FONT_FAMILY = "'DejaVu Sans', Verdana, Arial, sans-serif";

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** A coordinate or length for an attribute: at most two decimals, no trailing zeros. */
export function num(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`figure: a coordinate is ${v}`);
  return String(Math.round(v * 100) / 100);
}

type AttrValue = string | number | undefined;

function attributes(attrs: Record<string, AttrValue>): string {
  return Object.entries(attrs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${typeof v === 'number' ? num(v) : escapeXml(v!)}"`)
    .join('');
}

/** An element; `children` is markup already (use `text()` for text content). */
export function el(tag: string, attrs: Record<string, AttrValue>, children?: string): string {
  return children === undefined ? `<${tag}${attributes(attrs)}/>` : `<${tag}${attributes(attrs)}>${children}</${tag}>`;
}

export interface TextStyle {
  size: number;
  anchor?: 'start' | 'middle' | 'end';
  fill?: string;
  /** Baseline placement: 'middle' centres the text on y, 'hanging' puts its top at y. */
  baseline?: 'alphabetic' | 'middle' | 'hanging';
}

/** A `<text>` element; (x, y) is on the baseline unless `baseline` says otherwise. */
export function text(x: number, y: number, content: string, style: TextStyle): string {
  // dominant-baseline is not read by every renderer: shift by the font's own proportions instead
  // (DejaVu Sans: capitals are 0.73 em tall, so 'middle' puts the baseline 0.36 em below y).
  const shift = style.baseline === 'middle' ? 0.36 * style.size : style.baseline === 'hanging' ? 0.73 * style.size : 0;
  return el(
    'text',
    {
      x,
      y: y + shift,
      'font-size': style.size,
      'text-anchor': style.anchor && style.anchor !== 'start' ? style.anchor : undefined,
      fill: style.fill ?? INK,
    },
    escapeXml(content),
  );
}

/** A reference to `figureImages[index]`, drawn at (x, y) with the given size. */
export function imageRef(index: number, x: number, y: number, width: number, height: number): string {
  return el('image', { x, y, width, height, href: `{{image:${index}}}`, preserveAspectRatio: 'none', style: 'image-rendering:pixelated' });
}

/** The whole SVG document, with every image placeholder replaced by `encode(image)`. */
export function figureSvg(figure: Figure, encode?: ImageEncoder): string {
  const body = figure.body.replace(/\{\{image:(\d+)\}\}/g, (_, i: string) => {
    const image = figure.images[Number(i)];
    if (!image) throw new Error(`figure: the body refers to image ${i} but the figure has ${figure.images.length}`);
    if (!encode) throw new Error('figure: this figure holds raster images; pass an image encoder to serialise it');
    return escapeXml(encode(image));
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${num(figure.width)}" height="${num(figure.height)}" viewBox="0 0 ${num(figure.width)} ${num(figure.height)}" ` +
    `font-family="${escapeXml(FONT_FAMILY)}">` +
    el('rect', { width: figure.width, height: figure.height, fill: '#ffffff' }) +
    body +
    '</svg>'
  );
}
