// Node-only: decodes PNG (pngjs) and JPEG (jpeg-js) files into 8-bit RGBA pixels for
// preprocessImages, and encodes RGBA pixels as PNG. The format is told by the file's first bytes, not its name; anything else,
// and any file the decoders reject (truncated, corrupt), is refused with an ImageDecodeError naming
// the file. The size the header declares is checked before a decoder allocates for it: at most
// MAX_IMAGE_PIXELS, and no more than the file's bytes can code (a forged or truncated header would
// otherwise cost hundreds of megabytes before the decoder notices the missing data). In a
// browser, createImageBitmap + a canvas's getImageData give the same RgbaImage.
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import type { RgbaImage } from '../ops/preprocess.js';
import { FileReadError, openRegularFile, readAt, type RegularFile } from './regular-file.js';

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

/**
 * The most pixels an image may declare (100 megapixels, jpeg-js's own default cap): decoding one
 * takes 4 bytes a pixel for the RGBA result and as much again inside the decoders.
 */
export const MAX_IMAGE_PIXELS = 100e6;

/** Deflate packs at most 1032 bytes into one (a 258-byte match in 2 bits). */
const MAX_DEFLATE_RATIO = 1032;

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

/** An image's size as its header declares it. */
export interface ImageHeader {
  format: ImageFormat;
  width: number;
  height: number;
}

interface ParsedHeader extends ImageHeader {
  /** The fewest bytes that can code the declared pixels (see checkDeclaredSize). */
  minimumBytes: number;
  /** What those bytes are, for the error message. */
  minimumWhat: string;
}

/** PNG bits per pixel by colour type (channels) times the bit depth. */
const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

function pngHeader(bytes: Uint8Array, fail: (m: string) => never): ParsedHeader {
  // Signature (8), then the IHDR chunk, which must come first: length 13, 'IHDR', width, height, bit depth, colour type, ...
  if (bytes.length < 8 + 8 + 13) fail('cannot decode this PNG file (truncated or corrupt?): it ends inside its IHDR header');
  if (!startsWith(bytes, ascii('IHDR'), 12)) fail('cannot decode this PNG file (truncated or corrupt?): its first chunk is not IHDR');
  const view = new DataView(bytes.buffer, bytes.byteOffset, 29);
  const [width, height, depth, colourType] = [view.getUint32(16), view.getUint32(20), bytes[24]!, bytes[25]!];
  const channels = PNG_CHANNELS[colourType];
  if (width === 0 || height === 0 || channels === undefined || ![1, 2, 4, 8, 16].includes(depth)) {
    fail(`cannot decode this PNG file (truncated or corrupt?): its IHDR declares ${width}x${height} pixels, bit depth ${depth}, colour type ${colourType}`);
  }
  // Each row holds ceil(width * bits / 8) bytes of pixels (plus a filter byte, not counted;
  // interlacing only adds filter bytes).
  const raw = height * Math.ceil((width * channels! * depth) / 8);
  return { format: 'png', width, height, minimumBytes: Math.ceil(raw / MAX_DEFLATE_RATIO), minimumWhat: `at least ${raw} bytes of image data` };
}

/** Start-of-frame markers: baseline, extended, progressive and lossless with Huffman coding, then the same with arithmetic coding. */
const JPEG_HUFFMAN_FRAMES = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7]);
const JPEG_FRAMES = new Set([...JPEG_HUFFMAN_FRAMES, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/** The frame header's size; undefined when `bytes` end before it. */
function jpegHeader(bytes: Uint8Array, fail: (m: string) => never): ParsedHeader | undefined {
  let at = 2; // after SOI
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) fail(`cannot decode this JPEG file (truncated or corrupt?): expected a marker at byte ${at}, found 0x${bytes[at]!.toString(16)}`);
    const marker = bytes[at + 1]!;
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      at += 2; // markers without a length
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) fail('cannot decode this JPEG file (truncated or corrupt?): no frame header before its image data');
    const length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    if (length < 2) fail(`cannot decode this JPEG file (truncated or corrupt?): a segment at byte ${at} has length ${length}`);
    if (JPEG_FRAMES.has(marker)) {
      if (at + 9 > bytes.length) return undefined;
      const height = (bytes[at + 5]! << 8) | bytes[at + 6]!;
      const width = (bytes[at + 7]! << 8) | bytes[at + 8]!;
      if (width === 0 || height === 0) fail(`cannot decode this JPEG file (truncated or corrupt?): its frame header declares ${width}x${height} pixels`);
      // With Huffman coding every 8x8 block of the most finely sampled component codes at least
      // its DC value, in at least one bit (a lossless frame: every sample); with unequal sampling
      // that component covers at least half the blocks. Arithmetic coding has no such floor.
      const blocks = Math.ceil((Math.ceil(width / 8) * Math.ceil(height / 8)) / 2);
      const minimumBytes = JPEG_HUFFMAN_FRAMES.has(marker) ? Math.ceil(blocks / 8) : 0;
      return { format: 'jpeg', width, height, minimumBytes, minimumWhat: `at least ${blocks} 8x8 blocks of coded data` };
    }
    at += 2 + length;
  }
  return undefined;
}

/**
 * The format and size a PNG or JPEG declares, from its first bytes (the PNG IHDR, the JPEG frame
 * header), or undefined for a JPEG whose frame header lies beyond `bytes`. Refuses other formats
 * and malformed headers with an ImageDecodeError naming `source`.
 */
function parseHeader(bytes: Uint8Array, source: string): ParsedHeader | undefined {
  const fail = (message: string): never => {
    throw new ImageDecodeError(source, message);
  };
  if (bytes.length === 0) fail('the file is empty, not an image');
  const format = sniffImageFormat(bytes);
  if (format === 'png') return pngHeader(bytes, fail);
  if (format === 'jpeg') return jpegHeader(bytes, fail);
  const other = OTHER_FORMATS.find(([, test]) => test(bytes))?.[0];
  const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return fail(
    other
      ? `a ${other} image; only PNG and JPEG are supported (convert it first)`
      : `not a PNG or JPEG image (the file starts with bytes ${head}); only PNG and JPEG are supported`,
  );
}

/**
 * Refuses, before a decoder allocates for them, more pixels than MAX_IMAGE_PIXELS, or more than
 * a file of `fileLength` bytes can code at all (a truncated or forged header).
 */
function checkDeclaredSize(source: string, header: ParsedHeader, fileLength: number): void {
  const { format, width, height } = header;
  const declared = `the ${format.toUpperCase()} header declares ${width}x${height} pixels`;
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new ImageDecodeError(source, `${declared}, over the limit of ${MAX_IMAGE_PIXELS / 1e6} megapixels (downscale it first)`);
  }
  if (header.minimumBytes > fileLength) {
    const how = format === 'png' ? ` (deflate packs at most ${MAX_DEFLATE_RATIO} bytes into one)` : '';
    throw new ImageDecodeError(source, `${declared}, ${header.minimumWhat}, which ${fileLength} bytes cannot hold${how}: truncated or corrupt`);
  }
}

/** The format and size a PNG or JPEG file's bytes declare, checked as decodeImage checks them. */
export function imageHeader(bytes: Uint8Array, source = 'image'): ImageHeader {
  const header = parseHeader(bytes, source);
  if (!header) throw new ImageDecodeError(source, 'cannot decode this JPEG file (truncated or corrupt?): it ends before its frame header');
  checkDeclaredSize(source, header, bytes.length);
  return { format: header.format, width: header.width, height: header.height };
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

/**
 * Decodes a PNG or JPEG file's bytes to RGBA; `source` (the file name) starts every error. The
 * declared size is checked (imageHeader) before the decoder allocates anything for it.
 */
export function decodeImage(bytes: Uint8Array, source = 'image'): DecodedImage {
  const { format } = imageHeader(bytes, source);
  if (format === 'png') {
    // pngjs converts grey, palette and 16-bit images to 8-bit RGBA.
    return decodeWith(source, format, () => pngjs.PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)));
  }
  return decodeWith(source, format, () => jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6 }));
}

/** Bytes read first when only an image's header is wanted (a JPEG's may sit after EXIF and ICC segments). */
const HEADER_PREFIX_BYTES = 64 * 1024;

/**
 * The format and size a PNG or JPEG file declares, read from its first bytes only, checked as
 * decodeImage checks them; refuses what is not a regular file. For checking many files cheaply
 * before decoding any.
 */
export async function readImageHeader(path: string): Promise<ImageHeader> {
  const file = await openImage(path);
  try {
    for (let length = Math.min(HEADER_PREFIX_BYTES, file.size); ; length = Math.min(2 * length, file.size)) {
      const bytes = await readAt(file, 0, length);
      const header = parseHeader(bytes, path);
      if (header || length >= file.size) {
        if (!header) throw new ImageDecodeError(path, 'cannot decode this JPEG file (truncated or corrupt?): it ends before its frame header');
        checkDeclaredSize(path, header, file.size);
        return { format: header.format, width: header.width, height: header.height };
      }
    }
  } finally {
    await file.handle.close();
  }
}

async function openImage(path: string): Promise<RegularFile> {
  try {
    return await openRegularFile(path);
  } catch (err) {
    throw err instanceof FileReadError ? new ImageDecodeError(path, `cannot read the image: ${err.reason}`) : err;
  }
}

/** Reads and decodes a PNG or JPEG file (only a regular file: a FIFO would block forever). */
export async function readImage(path: string): Promise<DecodedImage> {
  const file = await openImage(path);
  let bytes: Uint8Array;
  try {
    bytes = await readAt(file, 0, file.size);
  } catch (err) {
    throw new ImageDecodeError(path, `cannot read the image: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await file.handle.close();
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
