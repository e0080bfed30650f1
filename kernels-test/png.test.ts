// The PNG encoder, checked by taking its output apart with an independent decoder written here:
// signature, chunk CRCs, IHDR fields, IDAT inflated by node:zlib and unfiltered back to pixels.
import { deflateSync, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { PNG_SIGNATURE, crc32, encodePng, zlibStored } from '../src/io/png.js';
import { random } from './helpers.js';

interface Chunk {
  type: string;
  body: Uint8Array;
}

function chunks(png: Uint8Array): Chunk[] {
  expect(png.subarray(0, 8)).toEqual(PNG_SIGNATURE);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const out: Chunk[] = [];
  for (let at = 8; at < png.length; ) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    const body = png.subarray(at + 8, at + 8 + length);
    const crc = view.getUint32(at + 8 + length);
    expect(crc, `${type} CRC`).toBe(crc32(png.subarray(at + 4, at + 8 + length)));
    out.push({ type, body });
    at += 12 + length;
  }
  return out;
}

/** Decodes an 8-bit non-interlaced PNG with filters None/Sub/Up (all this encoder may use). */
function decode(png: Uint8Array): { width: number; height: number; channels: number; pixels: Uint8Array } {
  const list = chunks(png);
  expect(list.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
  const ihdr = new DataView(list[0]!.body.buffer, list[0]!.body.byteOffset, 13);
  const width = ihdr.getUint32(0);
  const height = ihdr.getUint32(4);
  expect([ihdr.getUint8(8), ihdr.getUint8(10), ihdr.getUint8(11), ihdr.getUint8(12)]).toEqual([8, 0, 0, 0]);
  const channels = { 2: 3, 6: 4 }[ihdr.getUint8(9)]!;
  const raw = inflateSync(list[1]!.body);
  const stride = width * channels;
  expect(raw.length).toBe(height * (stride + 1));
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    for (let i = 0; i < stride; i++) {
      const v = raw[y * (stride + 1) + 1 + i]!;
      const left = i >= channels ? pixels[y * stride + i - channels]! : 0;
      const up = y > 0 ? pixels[(y - 1) * stride + i]! : 0;
      pixels[y * stride + i] = (v + (filter === 1 ? left : filter === 2 ? up : filter === 0 ? 0 : NaN)) & 0xff;
      if (filter > 2) throw new Error(`unexpected filter ${filter}`);
    }
  }
  return { width, height, channels, pixels };
}

function noise(n: number, seed: number): Uint8Array {
  return Uint8Array.from(random(n, seed, 0, 256), (v) => Math.floor(v));
}

describe('png', () => {
  it('computes the standard CRC-32 check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('encodes RGBA that decodes back to the same pixels (zlib deflate)', () => {
    const data = noise(7 * 5 * 4, 1);
    const img = decode(encodePng({ width: 7, height: 5, data }, { deflate: (b) => deflateSync(b) }));
    expect([img.width, img.height, img.channels]).toEqual([7, 5, 4]);
    expect(img.pixels).toEqual(data);
  });

  it('encodes RGB with stored deflate blocks (no zlib) that zlib inflates', () => {
    const data = noise(3 * 2 * 3, 2);
    const img = decode(encodePng({ width: 3, height: 2, data, channels: 3 }));
    expect([img.width, img.height, img.channels]).toEqual([3, 2, 3]);
    expect(img.pixels).toEqual(data);
  });

  it('splits stored deflate into 65,535-byte blocks with a correct Adler-32', () => {
    for (const n of [0, 1, 65535, 65536, 140_000]) {
      // A cheap pattern that does not repeat with the block length.
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 31 + (i >> 9)) & 0xff);
      // (Buffer.equals: vitest's toEqual walks big arrays element by element, slowly.)
      expect(inflateSync(zlibStored(bytes)).equals(bytes), `${n} bytes`).toBe(true);
    }
  });

  it('compresses a flat plot background well with zlib', () => {
    const data = new Uint8Array(400 * 300 * 4).fill(255);
    expect(encodePng({ width: 400, height: 300, data }, { deflate: (b) => deflateSync(b) }).length).toBeLessThan(2000);
  });

  it('refuses bad sizes', () => {
    expect(() => encodePng({ width: 2, height: 2, data: new Uint8Array(15) })).toThrow(
      'encodePng: a 2x2 image with 4 channels needs 16 bytes, got 15',
    );
    expect(() => encodePng({ width: 0, height: 2, data: new Uint8Array(0) })).toThrow('width and height must be positive integers, got 0x2');
  });
});
