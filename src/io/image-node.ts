// Node-only: decodes PNG (pngjs) and JPEG (jpeg-js) files into 8-bit RGBA pixels for
// preprocessImages, and encodes RGBA pixels as PNG. The format is told by the file's first bytes,
// not its name; anything else, and any file the decoders reject (truncated, corrupt), is refused
// with an error naming the file.
// In a browser, createImageBitmap + a canvas's getImageData give the same RgbaImage.
import { readFile } from 'node:fs/promises';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import type { RgbaImage } from '../ops/preprocess.js';

export class ImageDecodeError extends Error {
  constructor(readonly source: string, message: string) {
    super(`${source}: ${message}`);
    this.name = 'ImageDecodeError';
  }
}

export type ImageFormat = 'png' | 'jpeg';

export interface DecodedImage extends RgbaImage {
  format: ImageFormat;
}

/** The largest image decoded, in megapixels (jpeg-js's own default cap). */
const MAX_MEGAPIXELS = 100;

function startsWith(bytes: Uint8Array, prefix: readonly number[], at = 0): boolean {
  return prefix.every((b, i) => bytes[at + i] === b);
}

const ascii = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));

/** Names formats we recognise but do not decode, so the error can say what the file is. */
const OTHER_FORMATS: Array<[string, (b: Uint8Array) => boolean]> = [
  ['GIF', (b) => startsWith(b, ascii('GIF8'))],
  ['BMP', (b) => startsWith(b, ascii('BM'))],
  ['WebP', (b) => startsWith(b, ascii('RIFF')) && startsWith(b, ascii('WEBP'), 8)],
  ['TIFF', (b) => startsWith(b, ascii('II*\0')) || startsWith(b, ascii('MM\0*'))],
  ['HEIF/AVIF', (b) => startsWith(b, ascii('ftyp'), 4)],
];

/** 'png', 'jpeg', or undefined, from the file's signature. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  return undefined;
}

function decodeWith(source: string, format: ImageFormat, decode: () => { width: number; height: number; data: Uint8Array }): DecodedImage {
  let image: { width: number; height: number; data: Uint8Array };
  try {
    image = decode();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ImageDecodeError(source, `cannot decode this ${format.toUpperCase()} file (truncated or corrupt?): ${reason}`);
  }
  const { width, height, data } = image;
  if (!(width > 0 && height > 0) || data.length !== width * height * 4) {
    throw new ImageDecodeError(source, `the ${format.toUpperCase()} decoder returned a ${width}x${height} image with ${data.length} bytes of pixels`);
  }
  return { format, width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** Decodes a PNG or JPEG file's bytes to RGBA; `source` (the file name) starts every error. */
export function decodeImage(bytes: Uint8Array, source = 'image'): DecodedImage {
  if (bytes.length === 0) throw new ImageDecodeError(source, 'the file is empty, not an image');
  const format = sniffImageFormat(bytes);
  if (format === 'png') {
    return decodeWith(source, format, () => {
      // The size is in the IHDR chunk that must come first: refuse a huge image before inflating it.
      if (bytes.length >= 24) {
        const view = new DataView(bytes.buffer, bytes.byteOffset, 24);
        const [width, height] = [view.getUint32(16), view.getUint32(20)];
        if (width * height > MAX_MEGAPIXELS * 1e6) throw new Error(`${width}x${height} is over the ${MAX_MEGAPIXELS} megapixels this reader accepts`);
      }
      // pngjs converts grey, palette and 16-bit images to 8-bit RGBA.
      return pngjs.PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
    });
  }
  if (format === 'jpeg') {
    return decodeWith(source, format, () => jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_MEGAPIXELS }));
  }
  const other = OTHER_FORMATS.find(([, test]) => test(bytes))?.[0];
  const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new ImageDecodeError(
    source,
    other
      ? `a ${other} image; only PNG and JPEG are supported (convert it first)`
      : `not a PNG or JPEG image (the file starts with bytes ${head}); only PNG and JPEG are supported`,
  );
}

/** Reads and decodes a PNG or JPEG file. */
export async function readImage(path: string): Promise<DecodedImage> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : err instanceof Error ? err.message : String(err);
    throw new ImageDecodeError(path, `cannot read the image: ${reason}`);
  }
  return decodeImage(bytes, path);
}

/** RGBA pixels as PNG bytes (8-bit RGBA, zlib's default compression). */
export function encodePng(image: RgbaImage): Uint8Array {
  const { width, height, data } = image;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0) || data.length !== width * height * 4) {
    throw new Error(`encodePng: expected a positive integer width and height and width * height * 4 bytes, got ${width}x${height} with ${data.length} bytes`);
  }
  const png = new pngjs.PNG({ width, height });
  png.data = Buffer.from(data.buffer, data.byteOffset, data.length);
  const bytes = pngjs.PNG.sync.write(png);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}
