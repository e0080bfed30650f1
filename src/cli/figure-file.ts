// Node side of the figures (src/figure builds them as SVG): raster images inside a figure are
// encoded with pngjs, and the SVG is rasterised to PNG by resvg (Rust, compiled to WebAssembly:
// no native binary to install) with the bundled DejaVu Sans subset, so text looks the same on
// every machine. Files are written atomically.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { initWasm, Resvg } from '@resvg/resvg-wasm';
import pngjs from 'pngjs';
import { figureSvg, type Figure } from '../figure/svg.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { encodePng } from '../io/image-node.js';
import { FIGURE_FONT_BASE64, FIGURE_FONT_FAMILY } from './figure-font.generated.js';

let ready: Promise<Uint8Array> | undefined;

/** Loads the WebAssembly module once per process; resolves to the font's bytes. */
function rasteriser(): Promise<Uint8Array> {
  ready ??= (async () => {
    const wasm = createRequire(import.meta.url).resolve('@resvg/resvg-wasm/index_bg.wasm');
    await initWasm(await readFile(wasm));
    return new Uint8Array(Buffer.from(FIGURE_FONT_BASE64, 'base64'));
  })();
  return ready;
}

/** The figure as a standalone SVG document (its raster images embedded as PNG data URLs). */
export function toSvg(figure: Figure): string {
  return figureSvg(figure, (image) => `data:image/png;base64,${Buffer.from(encodePng(image)).toString('base64')}`);
}

/** The figure rasterised to PNG bytes, one pixel per SVG unit. */
export async function renderPng(figure: Figure): Promise<Uint8Array> {
  const font = await rasteriser();
  const resvg = new Resvg(toSvg(figure), {
    font: { fontBuffers: [font], defaultFontFamily: FIGURE_FONT_FAMILY, sansSerifFamily: FIGURE_FONT_FAMILY },
    background: '#ffffff',
  });
  try {
    const image = resvg.render();
    try {
      return image.asPng();
    } finally {
      image.free();
    }
  } finally {
    resvg.free();
  }
}

/** The rendered figure decoded to RGBA pixels (for tests and for callers that draw on). */
export async function renderPixels(figure: Figure): Promise<{ width: number; height: number; data: Uint8Array }> {
  const png = pngjs.PNG.sync.read(Buffer.from(await renderPng(figure)));
  return { width: png.width, height: png.height, data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.length) };
}

/**
 * Writes the figure as a PNG at `path`, atomically; with `svg`, also the SVG beside it (same name,
 * .svg), which stays sharp at any zoom.
 */
export async function writeFigure(path: string, figure: Figure, options: { svg?: boolean } = {}): Promise<void> {
  await writeFileAtomic(path, await renderPng(figure));
  if (options.svg) await writeFileAtomic(path.replace(/\.png$/i, '') + '.svg', toSvg(figure));
}
