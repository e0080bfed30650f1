// Seeded fuzzing of the file loaders: thousands of mutated safetensors files and PNG/JPEG byte
// streams go through decodeSafetensors and decodeImage. Each must either load or throw the
// loader's own error (SafetensorsError, ImageDecodeError): never another exception (a TypeError,
// a RangeError from a stack overflow or a huge allocation), never a hang. Allocation stays bounded
// because both loaders check declared sizes against the bytes present before they allocate; the
// test watches the process's peak resident set to see it. The seeds are files our writers make plus small
// Pillow-made variants (kernels-test/fixtures/fuzz, scripts/golden/make_fuzz_seeds.py).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import jpeg from 'jpeg-js';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../src/data/shuffle.js';
import { ImageDecodeError, decodeImage } from '../src/io/image-node.js';
import { encodePng } from '../src/io/image-node.js';
import { SafetensorsError, decodeSafetensors, encodeSafetensors } from '../src/io/safetensors.js';
import { FIXTURE_DIR } from './fixtures.js';

type Rng = () => number;
const int = (rng: Rng, n: number): number => Math.floor(rng() * n);
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[int(rng, xs.length)]!;

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];

/** One generic byte-level mutation: flip, set, insert, delete, duplicate a range, or truncate. */
function mutateBytes(rng: Rng, input: Uint8Array): Uint8Array {
  const bytes = input.slice();
  const at = int(rng, Math.max(1, bytes.length));
  switch (int(rng, 6)) {
    case 0:
      bytes[at] = bytes[at]! ^ (1 << int(rng, 8));
      return bytes;
    case 1:
      bytes[at] = pick(rng, INTERESTING_BYTES);
      return bytes;
    case 2: {
      const extra = Uint8Array.from({ length: 1 + int(rng, 16) }, () => int(rng, 256));
      return concat(bytes.subarray(0, at), extra, bytes.subarray(at));
    }
    case 3:
      return concat(bytes.subarray(0, at), bytes.subarray(Math.min(bytes.length, at + 1 + int(rng, 32))));
    case 4: {
      const from = int(rng, bytes.length);
      return concat(bytes.subarray(0, at), bytes.subarray(from, from + 1 + int(rng, 64)), bytes.subarray(at));
    }
    default:
      return bytes.subarray(0, at);
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

/**
 * Runs `load` on `cases` inputs made by `make`; every failure must be an `expected` error. Returns
 * the slowest case's milliseconds and how many loaded.
 */
function fuzz(cases: number, seed: number, make: (rng: Rng) => Uint8Array, load: (bytes: Uint8Array) => unknown, expected: new (...args: never[]) => Error) {
  const rng = seededRandom(seed);
  const stray: string[] = [];
  let loaded = 0;
  let slowest = 0;
  const startPeak = process.resourceUsage().maxRSS; // the process's high-water mark, in KiB
  for (let i = 0; i < cases; i++) {
    const bytes = make(rng);
    const t0 = performance.now();
    try {
      load(bytes);
      loaded++;
    } catch (err) {
      if (!(err instanceof expected) && stray.length < 5) stray.push(`case ${i}: ${(err as Error)?.name}: ${(err as Error)?.message?.slice(0, 200)}`);
    }
    slowest = Math.max(slowest, performance.now() - t0);
  }
  return { stray, loaded, slowest, peakGrowth: (process.resourceUsage().maxRSS - startPeak) * 1024 };
}

describe('safetensors loader under fuzzing', () => {
  const seeds = [
    encodeSafetensors(
      {
        'layer.weight': { dtype: 'F32', shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6) },
        'layer.bias': { dtype: 'F16', shape: [2], data: Uint16Array.of(0x3c00, 0xc000) },
        steps: { dtype: 'I64', shape: [], data: BigInt64Array.of(7n) },
        empty: { dtype: 'U8', shape: [0, 4], data: new Uint8Array(0) },
      },
      { format: 'pt', note: 'fuzz seed', info: '{"epoch":1}' },
    ),
    encodeSafetensors({ w: { dtype: 'BF16', shape: [3], data: Uint16Array.of(1, 2, 3) } }),
  ];
  const TOKENS = ['{', '}', '[', ']', '"', ',', ':', '\\', '\\u0000', '-1', '0', '1e400', '9007199254740993', '18446744073709551615', '"F32"', '"I64"', '"__metadata__"', '"dtype"', '"shape"', '"data_offsets"', '[0,4]', '[]', 'null', 'true', '{}', '"w"'];

  /** Mutates the JSON header (and fixes its length, mostly), or the bytes anywhere. */
  function mutant(rng: Rng): Uint8Array {
    const seed = pick(rng, seeds);
    if (rng() < 0.3) return mutateBytes(rng, seed);
    const length = Number(new DataView(seed.buffer).getBigUint64(0, true));
    let text = new TextDecoder().decode(seed.subarray(8, 8 + length));
    for (let n = 1 + int(rng, 3); n > 0; n--) {
      const at = int(rng, text.length + 1);
      const cut = rng() < 0.5 ? int(rng, 8) : 0;
      text = text.slice(0, at) + pick(rng, TOKENS) + text.slice(at + cut);
    }
    // Numbers replaced: sizes and offsets out of every range.
    if (rng() < 0.3) text = text.replace(/\d+/, () => String(pick(rng, [0, 1, 3, 4, 2 ** 31, 2 ** 53, 1e21, 4294967296])));
    // An array nested far deeper than any header does (a recursive walker would overflow its stack).
    if (rng() < 0.01) text = text.replace(/\[[^\]]*\]/, `${'['.repeat(300_000)}${']'.repeat(300_000)}`);
    const header = new TextEncoder().encode(text);
    const data = seed.subarray(8 + length);
    const out = concat(new Uint8Array(8), header, rng() < 0.8 ? data : data.subarray(0, int(rng, data.length + 1)));
    const declared = rng() < 0.85 ? BigInt(header.length) : pick(rng, [0n, 7n, BigInt(header.length + 1), 2n ** 63n, 2n ** 64n - 1n]);
    new DataView(out.buffer).setBigUint64(0, declared, true);
    return out;
  }

  it('loads or throws SafetensorsError for 4,000 mutated files, each quickly', () => {
    const result = fuzz(4000, 11, mutant, (b) => decodeSafetensors(b, 'fuzzed'), SafetensorsError);
    expect(result.stray).toEqual([]);
    expect(result.loaded).toBeGreaterThan(10); // some mutations keep a valid file
    expect(result.slowest).toBeLessThan(500);
    expect(result.peakGrowth).toBeLessThan(128 * 2 ** 20);
  }, 30_000);
});

describe('image decoders under fuzzing', () => {
  const rgba = (w: number, h: number) => Uint8Array.from({ length: w * h * 4 }, (_, i) => (i * 29 + (i >> 5) * 7) % 256);
  const fixtures = join(FIXTURE_DIR, 'fuzz');
  const seeds: Uint8Array[] = [
    encodePng({ width: 11, height: 7, data: rgba(11, 7) }),
    encodePng({ width: 5, height: 9, data: rgba(5, 9) }),
    new Uint8Array(jpeg.encode({ width: 16, height: 12, data: rgba(16, 12) }, 75).data),
    ...readdirSync(fixtures).sort().map((name) => new Uint8Array(readFileSync(join(fixtures, name)))),
  ];

  /** Recomputes every PNG chunk's CRC, so mutations get past the CRC check to the decoder proper. */
  function fixPngCrcs(bytes: Uint8Array): Uint8Array {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    for (let at = 8; at + 12 <= bytes.length; ) {
      const length = view.getUint32(at);
      if (at + 12 + length > bytes.length) break;
      view.setUint32(at + 8 + length, crc32(bytes.subarray(at + 4, at + 8 + length)));
      at += 12 + length;
    }
    return bytes;
  }

  /** Byte mutations, or a declared size (PNG IHDR, JPEG frame header) set to something wild. */
  function mutant(rng: Rng): Uint8Array {
    const seed = pick(rng, seeds);
    const isPng = seed[0] === 0x89;
    let bytes: Uint8Array = seed.slice();
    if (rng() < 0.25) {
      const at = isPng ? 16 + 4 * int(rng, 2) : bytes.findIndex((b, i) => b === 0xff && [0xc0, 0xc2].includes(bytes[i + 1]!)) + 5 + 2 * int(rng, 2);
      const value = pick(rng, [0, 1, 255, 256, 4096, 9000, 65535, 2 ** 24, 2 ** 31 - 1, 2 ** 32 - 1]);
      if (isPng) new DataView(bytes.buffer).setUint32(at, value);
      else new DataView(bytes.buffer).setUint16(at, Math.min(value, 65535));
    }
    for (let n = int(rng, 4); n > 0; n--) bytes = mutateBytes(rng, bytes);
    return isPng && rng() < 0.6 ? fixPngCrcs(bytes) : bytes;
  }

  it('decode or throw ImageDecodeError for 3,000 mutated PNG and JPEG files, each quickly', () => {
    const result = fuzz(3000, 5, mutant, (b) => decodeImage(b, 'fuzzed'), ImageDecodeError);
    expect(result.stray).toEqual([]);
    expect(result.loaded).toBeGreaterThan(10);
    expect(result.slowest).toBeLessThan(1000);
    expect(result.peakGrowth).toBeLessThan(128 * 2 ** 20);
  }, 60_000);
});
