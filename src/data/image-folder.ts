// An image-folder dataset as torchvision's ImageFolder: a root with one sub-folder per class (class
// names sorted -> indices 0..C-1), PNG and JPEG files anywhere below each class folder. Here: the
// index built from a listing, a seeded stratified train/validation split, and a loader that turns
// batches of files into GPU tensors through the augmentation kernel (src/ops/augment.ts), reading
// and decoding the next batch while the caller's step for the current one runs. No `node:`
// imports: listing the folder and reading files is src/data/image-folder-node.ts's job (a browser
// can pass fetch + createImageBitmap instead).
import {
  augmentBatch,
  centerCropBatch,
  sampleAugmentParams,
  type AugmentSampleOptions,
  type CenterCropOptions,
  type RgbaImage,
} from '../ops/augment.js';
import type { Engine } from '../runtime/engine.js';
import type { Tensor } from '../runtime/tensor.js';
import { epochSeed, permutation } from './shuffle.js';

/** The file name endings loaded (compared case-insensitively); every other file is ignored. */
export const IMAGE_EXTENSIONS: readonly string[] = ['.png', '.jpg', '.jpeg'];

/** Whether a file name is an image the dataset loads: a known extension, and not hidden (dot files, e.g. macOS's "._x.jpg"). */
export function isImageFileName(name: string): boolean {
  const base = name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1);
  if (base.startsWith('.')) return false;
  const lower = base.toLowerCase();
  return IMAGE_EXTENSIONS.some((ext) => lower.endsWith(ext) && lower.length > ext.length);
}

export interface ImageFolderSample {
  path: string;
  label: number;
}

export interface ImageFolderIndex {
  root: string;
  /** Class names, sorted; a sample's label indexes this list. */
  classes: readonly string[];
  /** Sorted by class, then by path. */
  samples: readonly ImageFolderSample[];
}

export class ImageFolderError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(`image folder: ${message}`, options);
    this.name = 'ImageFolderError';
  }
}

const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The dataset index from a listing of the root: for each class folder, the paths of the files
 * below it (any order; non-images are dropped here). Every class must keep at least one image.
 */
export function indexImageFolder(root: string, listing: ReadonlyMap<string, readonly string[]>): ImageFolderIndex {
  const classes = [...listing.keys()].sort(byCodePoint);
  if (classes.length === 0) throw new ImageFolderError(`${root} has no class folders (expected one sub-folder of images per class)`);
  const samples: ImageFolderSample[] = [];
  const empty: string[] = [];
  classes.forEach((name, label) => {
    const files = listing.get(name)!.filter(isImageFileName).sort(byCodePoint);
    if (files.length === 0) empty.push(name);
    for (const path of files) samples.push({ path, label });
  });
  if (empty.length > 0) {
    throw new ImageFolderError(
      `found no images for the class${empty.length > 1 ? 'es' : ''} ${empty.map((c) => `'${c}'`).join(', ')} in ${root}; supported extensions are ${IMAGE_EXTENSIONS.join(', ')} (any case)`,
    );
  }
  return { root, classes, samples };
}

/** How many samples each class has. */
export function classCounts(index: ImageFolderIndex): number[] {
  const counts = new Array<number>(index.classes.length).fill(0);
  for (const s of index.samples) counts[s.label]! += 1;
  return counts;
}

export interface SplitOptions {
  /** The fraction of each class held out for validation, in [0, 1); default 0.2. */
  validationFraction?: number;
  /** Which images are held out; default 0. */
  seed?: number;
}

/**
 * A seeded, stratified split: in each class, Math.round(count * fraction) images (but never the class's
 * last one) chosen at random go to validation, the rest to training. Both keep the index's order.
 */
export function splitImageFolder(index: ImageFolderIndex, options: SplitOptions = {}): { train: ImageFolderIndex; validation: ImageFolderIndex } {
  const fraction = options.validationFraction ?? 0.2;
  const seed = options.seed ?? 0;
  if (typeof fraction !== 'number' || !(fraction >= 0 && fraction < 1)) {
    throw new ImageFolderError(`validationFraction must be in [0, 1), got ${fraction}`);
  }
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new ImageFolderError(`seed must be an integer in [0, 2^32), got ${seed}`);
  const members: number[][] = index.classes.map(() => []);
  index.samples.forEach((s, i) => members[s.label]!.push(i));
  const held = new Set<number>();
  members.forEach((list, label) => {
    const count = Math.min(Math.round(list.length * fraction), list.length - 1);
    const order = permutation(list.length, epochSeed(seed, label));
    for (let k = 0; k < count; k++) held.add(list[order[k]!]!);
  });
  const pick = (keep: boolean) => index.samples.filter((_, i) => held.has(i) !== keep);
  return { train: { ...index, samples: pick(true) }, validation: { ...index, samples: pick(false) } };
}

/** Reads and decodes one image file to RGBA (e.g. readImage from src/io/image-node.ts). */
export type ImageReader = (path: string) => Promise<RgbaImage>;

export interface LoaderOptions extends AugmentSampleOptions, Omit<CenterCropOptions, 'size'> {
  batchSize: number;
  /** 'train': RandomResizedCrop + RandomHorizontalFlip; 'eval': Resize(resizeTo) + CenterCrop. */
  mode: 'train' | 'eval';
  /** The square output side; default 224. */
  size?: number;
  /** Shuffle each epoch (default: in 'train' mode). */
  shuffle?: boolean;
  /**
   * Drop the last batch when it is smaller than batchSize (default false). In 'train' mode a last
   * batch of a single image is dropped in any case: batch norm in training mode needs more than one
   * value per channel, and at small sizes ResNet18's last stage has one per image (PyTorch raises
   * the same error; its users pass drop_last). The order is shuffled, so each epoch leaves out
   * another image.
   */
  dropLast?: boolean;
  /** Seeds the shuffle and the augmentation; default 0. */
  seed?: number;
}

/** One batch on the GPU; dispose() frees both tensors. */
export interface ImageBatch {
  /** [B, 3, size, size], normalised. */
  input: Tensor;
  /** [B] class indices as int32 (what crossEntropy takes). */
  target: Tensor<'int32'>;
  labels: Int32Array;
  /** Positions of the images in the index's samples. */
  indices: Uint32Array;
  epoch: number;
  /** This batch's number within the epoch. */
  batch: number;
  dispose(): void;
}

/**
 * Batches of an image-folder index as GPU tensors. Iterating `batches(epoch)` reads and decodes
 * batch k + 1 (its files read concurrently) while the caller works on batch k, so file reading
 * and decoding overlap the GPU's work on the current step. Everything random depends only on
 * (seed, epoch, image), so an epoch replays identically, also from a later batch (resuming).
 */
export class ImageFolderLoader {
  private readonly batchSize: number;
  private readonly shuffle: boolean;
  private readonly seed: number;

  constructor(
    readonly engine: Engine,
    readonly index: ImageFolderIndex,
    private readonly read: ImageReader,
    readonly options: LoaderOptions,
  ) {
    const { batchSize, mode, seed = 0 } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new ImageFolderError(`batchSize must be a positive integer, got ${batchSize}`);
    if (mode !== 'train' && mode !== 'eval') throw new ImageFolderError(`mode must be 'train' or 'eval', got ${JSON.stringify(mode)}`);
    if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new ImageFolderError(`seed must be an integer in [0, 2^32), got ${seed}`);
    if (index.samples.length === 0) throw new ImageFolderError(`${index.root}: no samples to load`);
    // Bad augmentation ranges fail here rather than at the first batch.
    if (mode === 'train') sampleAugmentParams(8, 8, { seed, id: 0 }, options);
    this.batchSize = batchSize;
    this.shuffle = options.shuffle ?? mode === 'train';
    this.seed = seed;
  }

  get classes(): readonly string[] {
    return this.index.classes;
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.index.samples.length;
    return this.dropsLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Whether the last, smaller batch is left out (dropLast, or a single image in 'train' mode). */
  get dropsLast(): boolean {
    const n = this.index.samples.length;
    return this.options.dropLast === true || (this.options.mode === 'train' && n > 1 && n % this.batchSize === 1);
  }

  /** The order samples are visited in during `epoch` (indices into index.samples). */
  order(epoch: number): Uint32Array {
    const n = this.index.samples.length;
    if (!this.shuffle) return Uint32Array.from({ length: n }, (_, i) => i);
    return permutation(n, epochSeed(this.seed, epoch));
  }

  /** The sample indices of each batch of `epoch`. */
  plan(epoch: number): Uint32Array[] {
    const order = this.order(epoch);
    return Array.from({ length: this.length }, (_, b) => order.subarray(b * this.batchSize, Math.min(order.length, (b + 1) * this.batchSize)));
  }

  /**
   * The batches of one epoch, from batch `start` on. A file that cannot be read or decoded fails
   * its batch with an error naming the file (nothing is skipped silently).
   */
  async *batches(epoch: number, start = 0): AsyncGenerator<ImageBatch, void, undefined> {
    if (!Number.isInteger(epoch) || epoch < 0 || epoch >= 2 ** 32) throw new ImageFolderError(`epoch must be an integer in [0, 2^32), got ${epoch}`);
    const plan = this.plan(epoch);
    if (!Number.isInteger(start) || start < 0 || start > plan.length) throw new ImageFolderError(`start must be a batch number in [0, ${plan.length}], got ${start}`);
    let next = start < plan.length ? this.decode(plan[start]!) : undefined;
    for (let b = start; b < plan.length; b++) {
      const images = await next!;
      // Start reading the following batch before handing this one over: it proceeds while the
      // caller's step runs and is awaited when the caller asks for it.
      next = b + 1 < plan.length ? this.decode(plan[b + 1]!) : undefined;
      yield this.upload(images, plan[b]!, epoch, b);
    }
  }

  /** Reads and decodes the images of one batch (concurrently). */
  private decode(indices: Uint32Array): Promise<RgbaImage[]> {
    const maxPixels = Math.floor(this.engine.maxBindingBytes / 4);
    const loading = Promise.all(
      Array.from(indices, async (i) => {
        const { path } = this.index.samples[i]!;
        let image: RgbaImage;
        try {
          image = await this.read(path);
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          throw new ImageFolderError(message.includes(path) ? message : `${path}: ${message}`, { cause: err });
        }
        const { width, height, data } = image;
        if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0 && data?.length === width * height * 4)) {
          throw new ImageFolderError(`${path}: the reader returned a ${width}x${height} image with ${data?.length} bytes, not RGBA`);
        }
        if (width * height > maxPixels) throw new ImageFolderError(`${path}: ${width}x${height} is too large for one GPU binding on this device; downscale it`);
        return image;
      }),
    );
    // A batch that fails while the caller is busy must not count as an unhandled rejection: the
    // error is delivered when the batch is awaited.
    loading.catch(() => undefined);
    return loading;
  }

  private upload(images: RgbaImage[], indices: Uint32Array, epoch: number, batch: number): ImageBatch {
    const o = this.options;
    const transform = { size: o.size ?? 224, mean: o.mean, std: o.std, antialias: o.antialias, maxStagingBytes: o.maxStagingBytes };
    const input =
      o.mode === 'train'
        ? augmentBatch(
            this.engine,
            images,
            images.map((im, k) => sampleAugmentParams(im.width, im.height, { seed: this.seed, id: indices[k]!, epoch }, o)),
            transform,
          )
        : centerCropBatch(this.engine, images, { ...transform, resizeTo: o.resizeTo });
    const labels = Int32Array.from(indices, (i) => this.index.samples[i]!.label);
    const target = this.engine.tensor(Int32Array.from(labels), [labels.length]);
    return {
      input,
      target,
      labels,
      indices: Uint32Array.from(indices),
      epoch,
      batch,
      dispose: () => {
        input.dispose();
        target.dispose();
      },
    };
  }
}
