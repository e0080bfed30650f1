// `infer`: classifies PNG/JPEG images with a ResNet18 safetensors file (torchvision's names, e.g.
// from scripts/export_resnet18.py) and prints the top classes per image. What can be refused
// cheaply is checked before the first GPU batch: the arguments, every image's header (a regular
// file, PNG or JPEG, a declared size within MAX_IMAGE_PIXELS and within what its bytes can code)
// and the weights file (its header before its data). Images are then decoded batch by batch, so
// memory grows with --batch, not with the number of files. Results are printed only once every
// batch has run: an error (a file corrupt past its header) leaves no partial output.
import { parseArgs } from 'node:util';
import { IMAGENET_CLASSES } from '../data/imagenet.js';
import { readImage, readImageHeader, type DecodedImage } from '../io/image-node.js';
import { readSafetensorsFile } from '../io/safetensors-file.js';
import { loadResNet18, type ResNet18 } from '../nn/models/resnet18.js';
import { preprocessImages, type PreprocessOptions } from '../ops/preprocess.js';
import { Engine } from '../runtime/engine.js';
import { INFER_USAGE } from './infer-usage.js';
import { positiveInt } from './options.js';


export interface InferSettings {
  weights: string;
  images: string[];
  /** Network input size (default 224): resize the shorter side to size * 8/7, centre crop size. */
  size: number;
  fit: NonNullable<PreprocessOptions['fit']>;
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

export function parseInferArgs(argv: string[]): InferSettings {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      weights: { type: 'string' },
      size: { type: 'string' },
      fit: { type: 'string' },
      batch: { type: 'string' },
      top: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (!values.weights) throw new Error(`infer: --weights FILE is required\nusage:\n${INFER_USAGE}`);
  if (positionals.length === 0) throw new Error(`infer: give one or more images (PNG or JPEG)\nusage:\n${INFER_USAGE}`);
  const fit = values.fit ?? 'center-crop';
  if (fit !== 'center-crop' && fit !== 'stretch') throw new Error(`--fit must be center-crop or stretch, got '${fit}'`);
  const size = positiveInt('size', values.size, 224);
  // ResNet18 halves the size five times; below 32 the last stage has nothing left to pool.
  if (size < 32) throw new Error(`--size must be at least 32 for ResNet18, got ${size}`);
  return {
    weights: values.weights,
    images: positionals,
    size,
    fit,
    batch: positiveInt('batch', values.batch, 8),
    top: positiveInt('top', values.top, 5),
    json: values.json ?? false,
  };
}

/** Softmax of each row of `logits` (float64, max subtracted) and its `k` largest entries. */
export function topK(logits: Float32Array, classes: number, k: number, labels: readonly string[] = IMAGENET_CLASSES): Prediction[][] {
  if (classes <= 0 || logits.length % classes !== 0) throw new Error(`topK: ${logits.length} logits do not form rows of ${classes}`);
  const rows: Prediction[][] = [];
  for (let r = 0; r < logits.length / classes; r++) {
    const row = logits.subarray(r * classes, (r + 1) * classes);
    const max = row.reduce((m, v) => Math.max(m, v), -Infinity);
    const exps = Array.from(row, (v) => Math.exp(v - max));
    const sum = exps.reduce((a, b) => a + b, 0);
    const order = exps.map((_, i) => i).sort((a, b) => exps[b]! - exps[a]! || a - b);
    rows.push(order.slice(0, k).map((index) => ({ index, label: labels[index] ?? `class ${index}`, probability: exps[index]! / sum })));
  }
  return rows;
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

/** Loads the model and classifies every image, in batches; returns the results in image order. */
export async function classifyImages(engine: Engine, settings: InferSettings): Promise<ImageResult[]> {
  // Every image's header first, so a missing, foreign or oversized file stops the command up front.
  for (const path of settings.images) await readImageHeader(path);
  const bytes = await readSafetensorsFile(settings.weights, 'weights file');
  let model: ResNet18;
  try {
    model = await loadResNet18(engine, bytes, { source: settings.weights });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(message.includes(settings.weights) ? message : `${settings.weights}: ${message}`);
  }
  try {
    const results: ImageResult[] = [];
    const preprocess: PreprocessOptions = { size: settings.size, fit: settings.fit };
    for await (const { first, images } of imageBatches(settings.images, settings.batch)) {
      // Preprocessed on the GPU and classified there: the batch never comes back to the CPU.
      const input = preprocessImages(engine, images, preprocess);
      let logits: Float32Array;
      try {
        logits = await model.classify(input);
      } finally {
        input.dispose();
      }
      const classes = logits.length / images.length;
      // ImageNet's names only fit a 1000-class head; another fine-tuned head gets class numbers.
      const labels = classes === IMAGENET_CLASSES.length ? IMAGENET_CLASSES : [];
      topK(logits, classes, settings.top, labels).forEach((top, i) => {
        const image = images[i]!;
        results.push({ image: settings.images[first + i]!, width: image.width, height: image.height, format: image.format, top });
      });
    }
    return results;
  } finally {
    model.dispose();
  }
}

export function formatResults(results: readonly ImageResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${r.image} (${r.width}x${r.height} ${r.format.toUpperCase()})`);
    r.top.forEach((p, i) => {
      lines.push(`  ${String(i + 1).padStart(2)}. ${(p.probability * 100).toFixed(2).padStart(6)}%  ${p.label} (${p.index})`);
    });
  }
  return lines.join('\n');
}

/** The `infer` command: parse, classify, then print everything at once. */
export async function runInferCommand(argv: string[], log: (text: string) => void, engine?: Engine): Promise<ImageResult[]> {
  const settings = parseInferArgs(argv);
  const own = engine ?? (await Engine.create());
  try {
    const started = performance.now();
    const results = await classifyImages(own, settings);
    const seconds = (performance.now() - started) / 1000;
    if (settings.json) {
      log(JSON.stringify(results, null, 2));
    } else {
      const batches = Math.ceil(settings.images.length / settings.batch);
      log(formatResults(results));
      log(
        `ResNet18 at ${settings.size}x${settings.size} on ${own.adapterName}: ${results.length} image(s) in ${batches} batch(es), ` +
          `${seconds.toFixed(2)} s including loading the weights and compiling`,
      );
    }
    return results;
  } finally {
    if (!engine) own.dispose();
  }
}
