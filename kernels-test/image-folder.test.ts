// The image-folder dataset (src/data/image-folder.ts, image-folder-node.ts): scanning a real
// folder tree (class order, extensions, ignored files), the seeded stratified split, loader
// batches against the augmentation reference in both modes, determinism and resuming, the
// one-batch prefetch, and errors (an undecodable file names the file).
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImageFolder, scanImageFolder } from '../src/data/image-folder-node.js';
import {
  classCounts,
  ImageFolderError,
  ImageFolderLoader,
  indexImageFolder,
  isImageFileName,
  splitImageFolder,
  type ImageBatch,
  type ImageReader,
} from '../src/data/image-folder.js';
import { epochSeed, permutation } from '../src/data/shuffle.js';
import { encodePng, readImage } from '../src/io/image-node.js';
import { sampleAugmentParams, type RgbaImage } from '../src/ops/augment.js';
import { centerCropRef, resizedCropRef } from '../src/reference/augment.js';
import { assertClose, random, reduction, useEngine } from './helpers.js';

const engine = useEngine();
let root = '';
let tmp = '';

function rgba(seed: number, width: number, height: number): RgbaImage {
  return { width, height, data: Uint8Array.from(random(width * height * 4, seed, 0, 256), (v, i) => (i % 4 === 3 ? 255 : Math.floor(v))) };
}

const png = (seed: number, w: number, h: number) => encodePng(rgba(seed, w, h));
const jpg = (seed: number, w: number, h: number) => new Uint8Array(jpeg.encode({ ...rgba(seed, w, h), data: Buffer.from(rgba(seed, w, h).data) }, 90).data);

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'image-folder-'));
  root = join(tmp, 'data');
  const files: Array<[string, Uint8Array | string]> = [
    ['cat/a.png', png(1, 10, 8)],
    ['cat/B.PNG', png(2, 7, 12)],
    ['cat/c.JPG', jpg(3, 16, 16)],
    ['cat/notes.txt', 'not an image'],
    ['cat/.hidden.png', 'a hidden file, never read'],
    ['dog/x.jpeg', jpg(4, 9, 9)],
    ['dog/sub/y.png', png(5, 12, 6)],
    ['bird/z.png', png(6, 20, 15)],
    ['bird/w.png', png(7, 5, 5)],
    ['bird/v.png', png(8, 6, 7)],
    ['.git/objects.png', 'hidden folder, not a class'],
    ['README.md', 'a file at the root, not a class'],
    ['broken/a/good.png', png(9, 4, 4)],
    ['broken/a/bad.png', 'this is not a PNG'],
    ['broken/b/fine.png', png(10, 4, 4)],
    ['empty/a/one.png', png(11, 3, 3)],
    ['empty/b/readme.txt', 'no images'],
  ];
  for (const [name, data] of files) {
    await mkdir(join(tmp, 'data', name, '..'), { recursive: true });
    await writeFile(join(tmp, 'data', name), data);
  }
  // A link back up the tree must not loop.
  await symlink(join(root, 'bird'), join(root, 'bird', 'loop'));
  // The three real classes, as links.
  await mkdir(join(tmp, 'pets'));
  for (const c of ['cat', 'dog', 'bird']) await symlink(join(root, c), join(tmp, 'pets', c));
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** Reads a batch's tensors back and disposes them. */
async function collect(batch: ImageBatch): Promise<{ input: Float32Array; target: Int32Array; batch: ImageBatch }> {
  try {
    return { input: await batch.input.toArray(), target: await batch.target.toArray(), batch };
  } finally {
    batch.dispose();
  }
}

async function all(loader: ImageFolderLoader, epoch: number, start = 0) {
  const out = [];
  for await (const b of loader.batches(epoch, start)) out.push(await collect(b));
  return out;
}

describe('scanning', () => {
  it('takes every non-hidden sub-folder as a class, in sorted order, following links once', async () => {
    expect((await scanImageFolder(root)).classes).toEqual(['bird', 'broken', 'cat', 'dog', 'empty']);
    // bird/loop links back to bird: a class of its own here, read once.
    const bird = await scanImageFolder(join(root, 'bird'));
    expect(bird.classes).toEqual(['loop']);
    expect(bird.samples.map((s) => s.path.slice(root.length + 1))).toEqual(['bird/loop/v.png', 'bird/loop/w.png', 'bird/loop/z.png']);
  });

  it('indexes a folder tree', async () => {
    const sub = join(tmp, 'pets');
    const index = await scanImageFolder(sub);
    expect(index.classes).toEqual(['bird', 'cat', 'dog']);
    const rel = index.samples.map((s) => [s.path.slice(sub.length + 1), s.label]);
    expect(rel).toEqual([
      ['bird/v.png', 0],
      ['bird/w.png', 0],
      ['bird/z.png', 0],
      ['cat/B.PNG', 1],
      ['cat/a.png', 1],
      ['cat/c.JPG', 1],
      ['dog/sub/y.png', 2],
      ['dog/x.jpeg', 2],
    ]);
    expect(classCounts(index)).toEqual([3, 3, 2]);
  });

  it('tells image files by extension, case-insensitively, skipping hidden ones', () => {
    expect(['a.png', 'b.PNG', 'c.Jpg', 'd.jpeg', 'x/y/e.JPEG'].every(isImageFileName)).toBe(true);
    expect(['a.gif', 'b.png.txt', '.png', '.hidden.jpg', 'x/._y.jpg', 'png', 'a.bmp'].some(isImageFileName)).toBe(false);
  });

  it('refuses an image name that is not a regular file (a FIFO, a link to one, a dangling link) instead of hanging on it', async () => {
    const odd = join(tmp, 'odd');
    await mkdir(join(odd, 'a'), { recursive: true });
    await mkdir(join(odd, 'b'), { recursive: true });
    await writeFile(join(odd, 'a', 'fine.png'), png(12, 4, 4));
    await writeFile(join(odd, 'b', 'fine.png'), png(13, 4, 4));
    execFileSync('mkfifo', [join(tmp, 'pipe')]);
    execFileSync('mkfifo', [join(odd, 'b', 'pipe.txt')]); // not named like an image: ignored
    expect((await scanImageFolder(odd)).samples).toHaveLength(2);
    await symlink(join(tmp, 'pipe'), join(odd, 'a', 'link.png'));
    await expect(scanImageFolder(odd)).rejects.toThrow(`image folder: ${join(odd, 'a', 'link.png')} is a FIFO (named pipe), not a regular file; only regular files are loaded (remove it or rename it)`);
    await rm(join(odd, 'a', 'link.png'));
    execFileSync('mkfifo', [join(odd, 'b', 'pipe.jpg')]);
    await expect(scanImageFolder(odd)).rejects.toThrow(`image folder: ${join(odd, 'b', 'pipe.jpg')} is a FIFO (named pipe), not a regular file`);
    await rm(join(odd, 'b', 'pipe.jpg'));
    await symlink(join(tmp, 'gone.png'), join(odd, 'b', 'dangling.png'));
    await expect(scanImageFolder(odd)).rejects.toThrow(`image folder: ${join(odd, 'b', 'dangling.png')} is a link to nothing (no such file)`);
  });

  it('refuses a missing root, a root without class folders and a class without images', async () => {
    await expect(scanImageFolder(join(tmp, 'nope'))).rejects.toThrow(`image folder: cannot read ${join(tmp, 'nope')}: no such folder`);
    await expect(scanImageFolder(join(root, 'cat'))).rejects.toThrow(`image folder: ${join(root, 'cat')} has no class folders`);
    await expect(scanImageFolder(join(root, 'empty'))).rejects.toThrow(
      `image folder: found no images for the class 'b' in ${join(root, 'empty')}; supported extensions are .png, .jpg, .jpeg (any case)`,
    );
  });
});

describe('the train/validation split', () => {
  const big = indexImageFolder(
    '/data',
    new Map(['a', 'b', 'c', 'd', 'e'].map((c, k) => [c, Array.from({ length: 20 + 10 * k }, (_, i) => `/data/${c}/${String(i).padStart(3, '0')}.png`)])),
  );

  it('is stratified: round(count * fraction) of every class, disjoint, covering everything, in index order', () => {
    const { train, validation } = splitImageFolder(big, { validationFraction: 0.25, seed: 4 });
    expect(classCounts(validation)).toEqual([5, 8, 10, 13, 15]); // 12.5 rounds up
    expect(classCounts(train)).toEqual([15, 22, 30, 37, 45]);
    const paths = (x: typeof train) => x.samples.map((s) => s.path);
    expect(new Set([...paths(train), ...paths(validation)]).size).toBe(big.samples.length);
    expect([...paths(train), ...paths(validation)].sort()).toEqual(paths(big).slice().sort());
    expect(paths(train)).toEqual(paths(train).slice().sort());
    expect(train.classes).toEqual(big.classes);
  });

  it('is deterministic per seed and random across seeds', () => {
    const v = (seed: number) => splitImageFolder(big, { seed }).validation.samples.map((s) => s.path);
    expect(v(1)).toEqual(v(1));
    expect(v(1)).not.toEqual(v(2));
    // Not simply the first or last files of each class.
    expect(v(1).filter((p) => p.includes('/a/'))).not.toEqual(big.samples.slice(0, 4).map((s) => s.path));
  });

  it('keeps at least one training image per class, and fraction 0 holds nothing out', () => {
    const tiny = indexImageFolder('/t', new Map([['x', ['/t/x/1.png']], ['y', ['/t/y/1.png', '/t/y/2.png']]]));
    expect(classCounts(splitImageFolder(tiny, { validationFraction: 0.9 }).train)).toEqual([1, 1]);
    expect(splitImageFolder(big, { validationFraction: 0 }).validation.samples).toEqual([]);
    expect(() => splitImageFolder(big, { validationFraction: 1 })).toThrow('image folder: validationFraction must be in [0, 1), got 1');
  });
});

describe('loading batches', () => {
  async function pets() {
    const index = await scanImageFolder(join(tmp, 'pets'));
    const decoded = await Promise.all(index.samples.map((s) => readImage(s.path)));
    return { index, decoded };
  }

  it("'eval' mode: Resize + CenterCrop of the decoded files, in order, with a smaller last batch", async () => {
    const { index, decoded } = await pets();
    const options = { size: 8, resizeTo: 9 };
    const loader = new ImageFolderLoader(engine(), index, readImage, { batchSize: 3, mode: 'eval', ...options });
    expect(loader.length).toBe(3);
    const batches = await all(loader, 0);
    expect(batches.map((b) => Array.from(b.batch.indices))).toEqual([[0, 1, 2], [3, 4, 5], [6, 7]]);
    for (const { input, target, batch } of batches) {
      expect(batch.input.shape).toEqual([batch.indices.length, 3, 8, 8]);
      expect(Array.from(target)).toEqual(Array.from(batch.indices, (i) => index.samples[i]!.label));
      expect(Array.from(batch.labels)).toEqual(Array.from(target));
      batch.indices.forEach((i, k) => {
        assertClose(input.subarray(k * 192, (k + 1) * 192), centerCropRef(decoded[i]!, options).data, reduction(49), `image ${i}`);
      });
    }
    const dropping = new ImageFolderLoader(engine(), index, readImage, { batchSize: 3, mode: 'eval', ...options, dropLast: true });
    expect(dropping.length).toBe(2);
    expect((await all(dropping, 0)).length).toBe(2);
  });

  it("'train' mode: shuffled per epoch, each image cropped and flipped from its own (seed, epoch, index) draws", async () => {
    const { index, decoded } = await pets();
    const options = { batchSize: 4, mode: 'train' as const, size: 6, seed: 21 };
    const loader = new ImageFolderLoader(engine(), index, readImage, options);
    const epoch = 2;
    const batches = await all(loader, epoch);
    const order = Array.from(permutation(8, epochSeed(21, epoch)));
    expect(batches.flatMap((b) => Array.from(b.batch.indices))).toEqual(order);
    expect(order).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (const { input, batch } of batches) {
      batch.indices.forEach((i, k) => {
        const image = decoded[i]!;
        const params = sampleAugmentParams(image.width, image.height, { seed: 21, id: i, epoch });
        assertClose(input.subarray(k * 108, (k + 1) * 108), resizedCropRef(image, params, { size: 6 }).data, reduction(49), `image ${i}`);
      });
    }
    // The same seed replays the epoch exactly; resuming from batch 1 gives the same batch 1.
    const again = await all(new ImageFolderLoader(engine(), index, readImage, options), epoch);
    expect(again.map((b) => b.input)).toEqual(batches.map((b) => b.input));
    const resumed = await all(loader, epoch, 1);
    expect(resumed.map((b) => b.input)).toEqual(batches.slice(1).map((b) => b.input));
    expect(resumed[0]!.batch.batch).toBe(1);
    // Another epoch: another order and other crops.
    expect(loader.order(epoch + 1)).not.toEqual(loader.order(epoch));
  });

  it("'train' mode drops a last batch of one image (batch norm needs two values per channel), and only that", async () => {
    const files = (n: number) => indexImageFolder('/mem', new Map([['a', Array.from({ length: n }, (_, i) => `/mem/a/${i}.png`)]]));
    const reader: ImageReader = async (path) => rgba(path.length, 3, 3);
    const train = (n: number, batchSize: number) => new ImageFolderLoader(engine(), files(n), reader, { batchSize, mode: 'train', size: 2 });
    expect(train(9, 4).length).toBe(2);
    expect(train(9, 4).plan(0).map((b) => b.length)).toEqual([4, 4]);
    expect((await all(train(9, 4), 0)).map((b) => b.batch.indices.length)).toEqual([4, 4]);
    expect(train(10, 4).plan(0).map((b) => b.length)).toEqual([4, 4, 2]);
    expect(train(8, 4).length).toBe(2);
    expect(train(1, 1).length).toBe(1); // batches of one by choice (--batch 1) are the caller's to refuse
    // Evaluation sees every image.
    expect(new ImageFolderLoader(engine(), files(9), reader, { batchSize: 4, mode: 'eval', size: 2 }).plan(0).map((b) => b.length)).toEqual([4, 4, 1]);
  });

  it('reads the next batch while the caller works on the current one, its files concurrently', async () => {
    const index = indexImageFolder('/mem', new Map([['a', ['/mem/a/0.png', '/mem/a/1.png', '/mem/a/2.png', '/mem/a/3.png', '/mem/a/4.png']]]));
    const log: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const reader: ImageReader = async (path) => {
      log.push(`start ${path.slice(-5)}`);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      return rgba(path.length, 3, 3);
    };
    const loader = new ImageFolderLoader(engine(), index, reader, { batchSize: 2, mode: 'eval', size: 2, resizeTo: 2 });
    for await (const batch of loader.batches(0)) {
      log.push(`step ${batch.batch}`);
      await new Promise((r) => setTimeout(r, 20)); // the "training step"
      batch.dispose();
    }
    expect(log).toEqual(['start 0.png', 'start 1.png', 'start 2.png', 'start 3.png', 'step 0', 'start 4.png', 'step 1', 'step 2']);
    expect(maxInFlight).toBe(2);
  });

  it('fails the batch holding an undecodable file, naming it, even when it fails during the previous step', async () => {
    const index = await scanImageFolder(join(root, 'broken'));
    expect(index.samples.map((s) => s.path.slice(root.length + 1))).toEqual(['broken/a/bad.png', 'broken/a/good.png', 'broken/b/fine.png']);
    const loader = new ImageFolderLoader(engine(), { ...index, samples: [index.samples[1]!, index.samples[0]!, index.samples[2]!] }, readImage, {
      batchSize: 1,
      mode: 'eval',
      size: 2,
    });
    const seen: number[] = [];
    const run = async () => {
      for await (const batch of loader.batches(0)) {
        seen.push(batch.batch);
        await new Promise((r) => setTimeout(r, 30)); // batch 1's file fails meanwhile
        batch.dispose();
      }
    };
    const bad = join(root, 'broken', 'a', 'bad.png');
    const error = await run().then(() => undefined, (err: unknown) => err);
    expect(error).toBeInstanceOf(ImageFolderError);
    expect((error as Error).message).toContain(`image folder: ${bad}: not a PNG or JPEG image (the file starts with bytes`);
    expect(seen).toEqual([0]);
    // A reader whose errors do not mention the path gets it added.
    const failing = new ImageFolderLoader(engine(), index, () => Promise.reject(new Error('disk on fire')), { batchSize: 2, mode: 'eval', size: 2 });
    await expect(all(failing, 0)).rejects.toThrow(`image folder: ${bad}: disk on fire`);
    const wrong = new ImageFolderLoader(engine(), index, async () => ({ width: 2, height: 2, data: new Uint8Array(3) }), { batchSize: 2, mode: 'eval', size: 2 });
    await expect(all(wrong, 0)).rejects.toThrow(`image folder: ${bad}: the reader returned a 2x2 image with 3 bytes, not RGBA`);
  });

  it('opens a folder as training and validation loaders', async () => {
    const { classes, train, validation } = await openImageFolder(engine(), join(tmp, 'pets'), { batchSize: 2, size: 4, validationFraction: 0.34, seed: 3 });
    expect(classes).toEqual(['bird', 'cat', 'dog']);
    expect(classCounts(train.index)).toEqual([2, 2, 1]);
    expect(classCounts(validation!.index)).toEqual([1, 1, 1]);
    expect(train.options.mode).toBe('train');
    expect(validation!.options.mode).toBe('eval');
    const [first] = await all(validation!, 0);
    expect(first!.batch.input.shape).toEqual([2, 3, 4, 4]);
  });

  it('refuses bad options', () => {
    const index = indexImageFolder('/m', new Map([['a', ['/m/a/1.png']]]));
    const make = (o: object) => () => new ImageFolderLoader(engine(), index, readImage, { batchSize: 2, mode: 'train', ...o });
    expect(make({ batchSize: 0 })).toThrow('image folder: batchSize must be a positive integer, got 0');
    expect(make({ mode: 'test' })).toThrow(`image folder: mode must be 'train' or 'eval', got "test"`);
    expect(make({ scale: [0.9, 0.1] })).toThrow('randomResizedCrop: scale should be of kind (min, max), got [0.9,0.1]');
    expect(make({ seed: -3 })).toThrow('image folder: seed must be an integer in [0, 2^32), got -3');
  });
});
