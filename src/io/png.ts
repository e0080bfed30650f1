// A small PNG encoder (8-bit RGB or RGBA, no interlace) for plots and feature-map pictures. The
// deflate step is injected: Node passes zlib's `deflateSync` (src/cli does), and without one the
// image data is stored in uncompressed deflate blocks, which every PNG reader accepts. No `node:`
// imports, so the browser bundle can use it as it is.

export interface RgbaImage {
  width: number;
  height: number;
  /** Row-major pixels, `channels` bytes each (4 = RGBA unless `channels` says 3). */
  data: Uint8Array | Uint8ClampedArray;
  channels?: 3 | 4;
}

export interface PngOptions {
  /** zlib-wrapped deflate (RFC 1950), e.g. node:zlib's deflateSync. */
  deflate?: (bytes: Uint8Array) => Uint8Array;
}

export const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 as PNG (and zlib's crc32) define it. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

function adler32(bytes: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < bytes.length; ) {
    const end = Math.min(bytes.length, i + 5552); // the most bytes before the sums can overflow
    for (; i < end; i++) {
      a += bytes[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** A zlib stream of stored (uncompressed) deflate blocks of at most 65,535 bytes each. */
export function zlibStored(bytes: Uint8Array): Uint8Array {
  const blocks = Math.max(1, Math.ceil(bytes.length / 65535));
  const out = new Uint8Array(2 + blocks * 5 + bytes.length + 4);
  out[0] = 0x78; // deflate, 32 KiB window
  out[1] = 0x01; // no preset dictionary, fastest; (0x78 << 8 | 0x01) % 31 === 0
  let at = 2;
  for (let i = 0; i < blocks; i++) {
    const chunk = bytes.subarray(i * 65535, Math.min(bytes.length, (i + 1) * 65535));
    out[at++] = i === blocks - 1 ? 1 : 0; // BFINAL, BTYPE 00
    out[at++] = chunk.length & 0xff;
    out[at++] = chunk.length >>> 8;
    out[at++] = ~chunk.length & 0xff;
    out[at++] = (~chunk.length >>> 8) & 0xff;
    out.set(chunk, at);
    at += chunk.length;
  }
  new DataView(out.buffer).setUint32(at, adler32(bytes));
  return out;
}

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  view.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
  return out;
}

export function encodePng(image: RgbaImage, options: PngOptions = {}): Uint8Array {
  const { width, height, data } = image;
  const channels = image.channels ?? 4;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > 2 ** 31 - 1 || height > 2 ** 31 - 1) {
    throw new Error(`encodePng: width and height must be positive integers, got ${width}x${height}`);
  }
  if (channels !== 3 && channels !== 4) throw new Error(`encodePng: channels must be 3 or 4, got ${String(channels)}`);
  if (data.length !== width * height * channels) {
    throw new Error(`encodePng: a ${width}x${height} image with ${channels} channels needs ${width * height * channels} bytes, got ${data.length}`);
  }
  const header = new Uint8Array(13);
  const hv = new DataView(header.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  header[8] = 8; // bit depth
  header[9] = channels === 4 ? 6 : 2; // colour type: RGBA or RGB
  // compression 0 (deflate), filter method 0, no interlace: already zero.

  // Each scanline gets filter type 1 (Sub: difference from the pixel to the left), which makes
  // flat plot backgrounds runs of zeros.
  const stride = width * channels;
  const raw = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    const out = y * (stride + 1);
    raw[out] = 1;
    for (let i = 0; i < stride; i++) {
      const left = i >= channels ? data[row + i - channels]! : 0;
      raw[out + 1 + i] = (data[row + i]! - left) & 0xff;
    }
  }
  const idat = (options.deflate ?? zlibStored)(raw);
  const parts = [PNG_SIGNATURE, chunk('IHDR', header), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))];
  const png = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    png.set(p, at);
    at += p.length;
  }
  return png;
}
