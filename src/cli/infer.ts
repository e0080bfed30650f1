// `infer`: classifies PNG/JPEG images with any model the CLI writes or reads (src/nn/load-model.ts:
// a Fashion-MNIST DNN/CNN checkpoint of `train`, a ResNet18 checkpoint of `transfer-train`, or
// torchvision ResNet18 weights) and prints the top classes per image by name. Fashion-MNIST models
// take any picture, converted to 28x28 greyscale the way their training images were made
// (src/data/fashion-input.ts); ResNet18 gets torchvision's resize + centre crop on the GPU. What
// can be refused cheaply is checked before the first GPU batch: the arguments, every image's
// header (a regular file, PNG or JPEG, a declared size within MAX_IMAGE_PIXELS and within what its
// bytes can code) and the model file (its header before its data). Images are then decoded batch
// by batch, so memory grows with --batch, not with the number of files. Results are printed only
// once every batch has run: an error (a file corrupt past its header) leaves no partial output.
import { parseArgs } from 'node:util';
import { Tape } from '../autograd/tape.js';
import { constant } from '../autograd/variable.js';
import { readImage, readImageHeader, type DecodedImage } from '../io/image-node.js';
import { classProbabilities, type ImageProbabilities } from '../nn/explain/probabilities.js';
import type { LoadedModel } from '../nn/load-model.js';
import { modelInput, type ModelInputOptions } from '../nn/model-input.js';
import type { PreprocessOptions } from '../ops/preprocess.js';
import { Engine } from '../runtime/engine.js';
import type { Tensor } from '../runtime/tensor.js';
import { INFER_USAGE } from './infer-usage.js';
import { readModel } from './model-file.js';
import { positiveInt } from './options.js';

export interface InferSettings {
  /** The model file (--weights or --checkpoint). */
  weights: string;
  images: string[];
  /**
   * ResNet18's input size (default the model's: 224, or a transfer checkpoint's training size):
   * resize the shorter side to size * 8/7, centre crop size. Fashion models take 28x28.
   */
  size: number | undefined;
  /** ResNet18 only (default center-crop). */
  fit: PreprocessOptions['fit'];
  /** Images per GPU batch. */
  batch: number;
  top: number;
  json: boolean;
}

export interface Prediction {
  index: number;
  label: string;
  probability: number;
}

export interface ImageResult {
  image: string;
  width: number;
  height: number;
  format: string;
  top: Prediction[];
}

/** The model file of --weights or --checkpoint (the same option under two names). */
export function modelPath(command: string, values: { weights?: string; checkpoint?: string }, usage = ''): string {
  if (values.weights !== undefined && values.checkpoint !== undefined) throw new Error(`${command}: give the model file once, as --weights or --checkpoint`);
  const path = values.weights ?? values.checkpoint;
  if (!path) throw new Error(`${command}: --weights FILE is required (a checkpoint of train or transfer-train, or ResNet18 weights)${usage && `\nusage:\n${usage}`}`);
  return path;
}

/** --size and --fit, checked (they apply to ResNet18 models; undefined: the model's defaults). */
export function resNetInputOptions(values: { size?: string; fit?: string }): { size: number | undefined; fit: PreprocessOptions['fit'] } {
  const fit = values.fit;
  if (fit !== undefined && fit !== 'center-crop' && fit !== 'stretch') throw new Error(`--fit must be center-crop or stretch, got '${fit}'`);
  const size = values.size === undefined ? undefined : positiveInt('size', values.size, 224);
  // ResNet18 halves the size five times; below 32 the last stage has nothing left to pool.
  if (size !== undefined && size < 32) throw new Error(`--size must be at least 32 for ResNet18, got ${size}`);
  return { size, fit };
}

/** The input options for the loaded model: --size and --fit are refused for a Fashion model. */
export function inputOptionsFor(command: string, loaded: LoadedModel, options: { size: number | undefined; fit: PreprocessOptions['fit'] }): ModelInputOptions & { size: number } {
  if (loaded.channels === 1 && (options.size !== undefined || options.fit !== undefined)) {
    throw new Error(`${command}: --size and --fit apply to ResNet18 models; a ${loaded.title} converts every image to 28x28 greyscale`);
  }
  return { size: options.size ?? loaded.size, fit: options.fit };
}

/** The class probabilities (and the `top` classes) of the loaded model for an input batch, read back. */
export async function classify(engine: Engine, loaded: LoadedModel, input: Tensor, top: number): Promise<ImageProbabilities[]> {
  const tape = new Tape(engine, { grad: false });
  try {
    return await classProbabilities(loaded.model.call(tape, constant(input)).value, loaded.classNames, { top });
  } finally {
    tape.dispose();
  }
}

export function parseInferArgs(argv: string[]): InferSettings {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      weights: { type: 'string' },
      checkpoint: { type: 'string' },
      size: { type: 'string' },
      fit: { type: 'string' },
      batch: { type: 'string' },
      top: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const weights = modelPath('infer', values, INFER_USAGE);
  if (positionals.length === 0) throw new Error(`infer: give one or more images (PNG or JPEG)\nusage:\n${INFER_USAGE}`);
  return {
    weights,
    images: positionals,
    ...resNetInputOptions(values),
    batch: positiveInt('batch', values.batch, 8),
    top: positiveInt('top', values.top, 5),
    json: values.json ?? false,
  };
}

/**
 * The images of `paths`, decoded `size` at a time: a batch is read only when it is asked for, so
 * at most one batch of decoded pixels is held.
 */
export async function* imageBatches(
  paths: readonly string[],
  size: number,
  read: (path: string) => Promise<DecodedImage> = readImage,
): AsyncGenerator<{ first: number; images: DecodedImage[] }, void, undefined> {
  for (let first = 0; first < paths.length; first += size) {
    const images: DecodedImage[] = [];
    for (const path of paths.slice(first, first + size)) images.push(await read(path));
    yield { first, images };
  }
}

/** What classifyImages loaded, and its results in image order. */
export interface Classification {
  model: Pick<LoadedModel, 'title' | 'origin' | 'kind'>;
  /** The input side the images were brought to. */
  size: number;
  results: ImageResult[];
}

/** Loads the model and classifies every image, in batches. */
export async function classifyImages(engine: Engine, settings: InferSettings): Promise<Classification> {
  // Every image's header first, so a missing, foreign or oversized file stops the command up front.
  for (const path of settings.images) await readImageHeader(path);
  const loaded = await readModel(engine, settings.weights);
  try {
    const options = inputOptionsFor('infer', loaded, settings);
    const results: ImageResult[] = [];
    for await (const { first, images } of imageBatches(settings.images, settings.batch)) {
      // Converted on the CPU (Fashion: 28x28 bytes) or the GPU (ResNet18) and classified on the GPU.
      const input = modelInput(engine, loaded, images, options);
      let classes: ImageProbabilities[];
      try {
        classes = await classify(engine, loaded, input, settings.top);
      } finally {
        input.dispose();
      }
      classes.forEach(({ top }, i) => {
        const image = images[i]!;
        const predictions = top.map(({ index, name, probability }) => ({ index, label: name, probability }));
        results.push({ image: settings.images[first + i]!, width: image.width, height: image.height, format: image.format, top: predictions });
      });
    }
    return { model: loaded, size: options.size, results };
  } finally {
    loaded.model.dispose();
  }
}

/** One line per class: rank, probability, name, index. */
export function formatTop(top: readonly Prediction[]): string[] {
  return top.map((p, i) => `  ${String(i + 1).padStart(2)}. ${(p.probability * 100).toFixed(2).padStart(6)}%  ${p.label} (${p.index})`);
}

export function formatResults(results: readonly ImageResult[]): string {
  return results.flatMap((r) => [`${r.image} (${r.width}x${r.height} ${r.format.toUpperCase()})`, ...formatTop(r.top)]).join('\n');
}

/** The `infer` command: parse, classify, then print everything at once. */
export async function runInferCommand(argv: string[], log: (text: string) => void, engine?: Engine): Promise<ImageResult[]> {
  const settings = parseInferArgs(argv);
  const own = engine ?? (await Engine.create());
  try {
    const started = performance.now();
    const { model, size, results } = await classifyImages(own, settings);
    const seconds = (performance.now() - started) / 1000;
    if (settings.json) {
      log(JSON.stringify(results, null, 2));
    } else {
      const batches = Math.ceil(settings.images.length / settings.batch);
      log(formatResults(results));
      log(
        `${model.title} (${model.origin}) at ${size}x${size} on ${own.adapterName}: ${results.length} image(s) in ${batches} batch(es), ` +
          `${seconds.toFixed(2)} s including loading the model and compiling`,
      );
    }
    return results;
  } finally {
    if (!engine) own.dispose();
  }
}
