// Image decoding (src/io/image-node.ts): PNG in its colour types and bit depths, JPEG, the format
// told by content, and a clear error naming the file for everything that cannot be decoded.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import { describe, expect, it } from 'vitest';
import { ImageDecodeError, MAX_IMAGE_PIXELS, decodeImage, encodePng, imageHeader, readImage, sniffImageFormat } from '../src/io/image-node.js';

const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

const deflate = (b: Uint8Array) => new Uint8Array(deflateSync(b));

function gradient(width: number, height: number): Uint8Array {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      data.set([Math.round((x / (width - 1)) * 255), Math.round((y / (height - 1)) * 255), 128, 200], i);
    }
  }
  return data;
}

function pngChunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length);
  out.set(Array.from(type, (c) => c.charCodeAt(0)), 4);
  out.set(body, 8);
  view.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
  return out;
}

/** A 16-bit RGB PNG written by hand (pngjs's writer cannot take 16-bit input). */
function png16(width: number, height: number, sample: (x: number, y: number, c: number) => number): Uint8Array {
  const header = new Uint8Array(13);
  new DataView(header.buffer).setUint32(0, width);
  new DataView(header.buffer).setUint32(4, height);
  header.set([16, 2], 8); // bit depth 16, colour type 2 (RGB)
  const stride = 1 + width * 6;
  const raw = new Uint8Array(height * stride);
  const view = new DataView(raw.buffer);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) view.setUint16(y * stride + 1 + (x * 3 + c) * 2, sample(x, y, c));
  }
  const parts = [PNG_SIGNATURE, pngChunk('IHDR', header), pngChunk('IDAT', deflate(raw)), pngChunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

function jpegOf(width: number, height: number, data: Uint8Array, quality = 95): Uint8Array {
  return new Uint8Array(jpeg.encode({ width, height, data }, quality).data);
}

describe('decodeImage', () => {
  it('decodes an RGBA PNG exactly', () => {
    const data = gradient(13, 7);
    const image = decodeImage(encodePng({ width: 13, height: 7, data }), 'a.png');
    expect(image).toMatchObject({ format: 'png', width: 13, height: 7 });
    expect(image.data).toEqual(data);
  });

  it('decodes an RGB PNG with opaque alpha', () => {
    const rgba = gradient(6, 5).map((v, i) => (i % 4 === 3 ? 255 : v));
    const png = new pngjs.PNG({ width: 6, height: 5 });
    png.data = Buffer.from(rgba);
    const bytes = pngjs.PNG.sync.write(png, { colorType: 2 });
    expect(bytes[25]).toBe(2); // colour type 2 (RGB) in the IHDR
    const image = decodeImage(new Uint8Array(bytes));
    expect(image.data).toEqual(rgba);
  });

  it('expands a greyscale PNG to RGBA', () => {
    const png = new pngjs.PNG({ width: 4, height: 2 });
    png.data = Buffer.from(Array.from({ length: 8 }, (_, i) => [i * 30, i * 30, i * 30, 255]).flat());
    const bytes = pngjs.PNG.sync.write(png, { colorType: 0, inputColorType: 6 });
    expect(bytes[25]).toBe(0); // colour type 0 in the IHDR
    expect(decodeImage(new Uint8Array(bytes)).data).toEqual(new Uint8Array(png.data));
  });

  it('scales a 16-bit PNG to 8 bits', () => {
    const image = decodeImage(png16(3, 2, (x, y, c) => [0, 0x8080, 0xffff][(x + y + c) % 3]!));
    expect(Array.from(image.data.subarray(0, 8))).toEqual([0, 128, 255, 255, 128, 255, 0, 255]);
  });

  it('decodes a JPEG (lossy: close to the encoded pixels)', () => {
    const data = gradient(32, 24);
    const image = decodeImage(jpegOf(32, 24, data), 'photo.jpg');
    expect(image).toMatchObject({ format: 'jpeg', width: 32, height: 24 });
    let worst = 0;
    for (let i = 0; i < data.length; i++) if (i % 4 !== 3) worst = Math.max(worst, Math.abs(image.data[i]! - data[i]!));
    expect(worst).toBeLessThan(12);
    expect(image.data.filter((_, i) => i % 4 === 3).every((a) => a === 255)).toBe(true);
  });

  it('encodes RGBA as PNG, refusing a wrong byte count', () => {
    expect(() => encodePng({ width: 2, height: 2, data: new Uint8Array(15) })).toThrow(
      'encodePng: expected a positive integer width and height and width * height * 4 bytes, got 2x2 with 15 bytes',
    );
  });

  it('tells the format by content, not by name', () => {
    const png = encodePng({ width: 2, height: 2, data: gradient(2, 2) });
    expect(sniffImageFormat(png)).toBe('png');
    expect(sniffImageFormat(jpegOf(8, 8, gradient(8, 8)))).toBe('jpeg');
    expect(decodeImage(png, 'misnamed.jpg').format).toBe('png');
  });
});

describe('undecodable images', () => {
  const png = encodePng({ width: 16, height: 16, data: gradient(16, 16) });
  const jpg = jpegOf(16, 16, gradient(16, 16));
  const corrupt = png.slice();
  corrupt[45] = corrupt[45]! ^ 0xff; // inside the IDAT data
  it.each<[string, Uint8Array, string]>([
    ['an empty file', new Uint8Array(0), 'x.png: the file is empty, not an image'],
    ['a truncated PNG', png.subarray(0, png.length - 20), 'x.png: cannot decode this PNG file (truncated or corrupt?): '],
    ['a PNG cut inside its header', png.subarray(0, 20), 'x.png: cannot decode this PNG file (truncated or corrupt?): '],
    ['a corrupt PNG', corrupt, 'x.png: cannot decode this PNG file (truncated or corrupt?): '],
    ['a truncated JPEG', jpg.subarray(0, jpg.length >> 1), 'x.png: cannot decode this JPEG file (truncated or corrupt?): '],
    ['a GIF', new TextEncoder().encode('GIF89a\x01\x00\x01\x00'), 'x.png: a GIF image; only PNG and JPEG are supported (convert it first)'],
    ['a WebP', new TextEncoder().encode('RIFF\x10\x00\x00\x00WEBPVP8 '), 'x.png: a WebP image; only PNG and JPEG are supported'],
    ['a text file', new TextEncoder().encode('hello, world'), 'x.png: not a PNG or JPEG image (the file starts with bytes 68 65 6c 6c 6f 2c 20 77)'],
  ])('refuses %s', (_, bytes, message) => {
    let error: unknown;
    try {
      decodeImage(bytes, 'x.png');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ImageDecodeError);
    expect((error as Error).message.startsWith(message), (error as Error).message).toBe(true);
  });

});

describe('declared sizes, checked before anything is allocated for them', () => {
  /** A PNG whose IHDR says width x height RGBA but whose IDAT holds only the first rows' data. */
  function pngDeclaring(width: number, height: number, rows: number): Uint8Array {
    const header = new Uint8Array(13);
    new DataView(header.buffer).setUint32(0, width);
    new DataView(header.buffer).setUint32(4, height);
    header.set([8, 6], 8); // 8-bit RGBA
    const raw = new Uint8Array(rows * (1 + width * 4));
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 7919) % 251; // incompressible enough
    const parts = [PNG_SIGNATURE, pngChunk('IHDR', header), pngChunk('IDAT', deflate(raw)), pngChunk('IEND', new Uint8Array(0))];
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
    return out;
  }

  it('reads the size from the PNG IHDR and the JPEG frame header', () => {
    expect(imageHeader(encodePng({ width: 13, height: 7, data: gradient(13, 7) }))).toEqual({ format: 'png', width: 13, height: 7 });
    // After the JFIF/EXIF segments: jpeg-js writes an APP0 first.
    expect(imageHeader(jpegOf(40, 24, gradient(40, 24)))).toEqual({ format: 'jpeg', width: 40, height: 24 });
  });

  it('refuses a small PNG that declares 81 megapixels (it would allocate ~470 MB first)', () => {
    const png = pngDeclaring(9000, 9000, 2);
    expect(png.length).toBeLessThan(80_000);
    expect(() => decodeImage(png, 'bomb.png')).toThrow(
      `bomb.png: the PNG header declares 9000x9000 pixels, at least 324000000 bytes of image data, which ${png.length} bytes cannot hold ` +
        '(deflate packs at most 1032 bytes into one): truncated or corrupt',
    );
  });

  it('refuses a small JPEG that declares 81 megapixels', () => {
    const jpg = jpegOf(16, 16, gradient(16, 16));
    const sof = jpg.findIndex((b, i) => b === 0xff && jpg[i + 1] === 0xc0);
    new DataView(jpg.buffer, jpg.byteOffset).setUint16(sof + 5, 9000);
    new DataView(jpg.buffer, jpg.byteOffset).setUint16(sof + 7, 9000);
    expect(() => decodeImage(jpg, 'bomb.jpg')).toThrow(
      `bomb.jpg: the JPEG header declares 9000x9000 pixels, at least 632813 8x8 blocks of coded data, which ${jpg.length} bytes cannot hold: truncated or corrupt`,
    );
  });

  it('refuses images over the pixel limit, naming it', () => {
    const png = pngDeclaring(20000, 10000, 1);
    expect(() => decodeImage(png, 'big.png')).toThrow(`big.png: the PNG header declares 20000x10000 pixels, over the limit of ${MAX_IMAGE_PIXELS / 1e6} megapixels`);
  });
});

describe('readImage', () => {
  const dir = mkdtempSync(join(tmpdir(), 'webgpu-cnn-image-'));

  it('reads PNG and JPEG files', async () => {
    writeFileSync(join(dir, 'a.png'), encodePng({ width: 3, height: 4, data: gradient(3, 4) }));
    writeFileSync(join(dir, 'b.jpeg'), jpegOf(5, 6, gradient(5, 6)));
    expect(await readImage(join(dir, 'a.png'))).toMatchObject({ format: 'png', width: 3, height: 4 });
    expect(await readImage(join(dir, 'b.jpeg'))).toMatchObject({ format: 'jpeg', width: 5, height: 6 });
  });

  it('names a missing file or a directory', async () => {
    await expect(readImage(join(dir, 'nope.png'))).rejects.toThrow(`${join(dir, 'nope.png')}: cannot read the image: no such file`);
    await expect(readImage(dir)).rejects.toThrow(`${dir}: cannot read the image: is a directory`);
  });

  it('refuses a FIFO named like an image, and a link to one, instead of waiting on it forever', async () => {
    const fifo = join(dir, 'pipe.png');
    execFileSync('mkfifo', [fifo]);
    symlinkSync(fifo, join(dir, 'link.png'));
    for (const path of [fifo, join(dir, 'link.png')]) {
      const outcome = await Promise.race([readImage(path).then(() => 'read', (err: Error) => err.message), new Promise((resolve) => setTimeout(() => resolve('still waiting after 2 s'), 2000))]);
      expect(outcome).toBe(`${path}: cannot read the image: is a FIFO (named pipe), not a regular file`);
    }
  });
});
