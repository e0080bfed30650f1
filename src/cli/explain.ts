// `explain`: what a model looks at, for each image: the class probabilities (printed and charted),
// feature maps of chosen layers, the Grad-CAM heat map of the explained class and its gradient
// saliency, all computed on the GPU (src/nn/explain) and drawn with src/figure as PNGs. Arguments,
// image headers, layer names and the class are checked before any image is run; images are
// decoded one batch at a time.
import { basename, extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { FASHION_CLASSES, IMAGE_SIDE, PIXELS } from '../data/fashion-mnist.js';
import { fashionPixels, fashionTensor } from '../data/fashion-input.js';
import { barChart } from '../figure/bar-chart.js';
import { heatmapOverlay } from '../figure/heatmap.js';
import { imageGrid } from '../figure/image-grid.js';
import type { ScalarImage } from '../figure/image.js';
import { COLORS, SIZES } from '../figure/style.js';
import type { Figure } from '../figure/svg.js';
import { textWidth } from '../figure/text-metrics.js';
import { formatPercent } from '../figure/ticks.js';
import { readImage, readImageHeader } from '../io/image-node.js';
import {
  classProbabilities,
  featureMapPictures,
  featureMaps,
  findLayer,
  gradCam,
  readHeatmaps,
  saliency,
  type ClassProbability,
  type GradCamResult,
  type SaliencyResult,
} from '../nn/explain/index.js';
import type { LoadedModel } from '../nn/load-model.js';
import { inputNormalisation, modelInput, type ModelInputOptions } from '../nn/model-input.js';
import { minMaxNormalize } from '../ops/attribution.js';
import type { RgbaImage } from '../ops/preprocess.js';
import { Engine } from '../runtime/engine.js';
import type { Tensor } from '../runtime/tensor.js';
import { EXPLAIN_DEFAULTS, EXPLAIN_LAYERS } from './explain-usage.js';
import { writeFigure } from './figure-file.js';
import { formatTop, inputOptionsFor, modelPath, resNetInputOptions } from './infer.js';
import { readModel } from './model-file.js';
import { positiveInt } from './options.js';
import { imagesFromTensor } from './prediction-grid.js';

export interface ExplainSettings {
  weights: string;
  images: string[];
  /** Fashion-MNIST test images to explain (after the files). */
  testIndices: number[];
  /** Feature-map layers; undefined: the model's defaults (EXPLAIN_LAYERS). */
  layers: string[] | undefined;
  /** Grad-CAM's layer; undefined: the model's default. */
  layer: string | undefined;
  /** --class as given (an index or a class name); undefined: each image's top class. */
  classChoice: string | undefined;
  channels: number;
  top: number;
  outDir: string;
  size: number | undefined;
  fit: 'center-crop' | 'stretch' | undefined;
}

const EXPLAIN_OPTIONS = {
  weights: { type: 'string' },
  checkpoint: { type: 'string' },
  'test-index': { type: 'string' },
  layers: { type: 'string' },
  layer: { type: 'string' },
  class: { type: 'string' },
  channels: { type: 'string' },
  top: { type: 'string' },
  out: { type: 'string' },
  size: { type: 'string' },
  fit: { type: 'string' },
} as const;

const list = (value: string | undefined): string[] | undefined => value?.split(',').map((s) => s.trim()).filter((s) => s.length > 0);

export function parseExplainArgs(argv: string[]): ExplainSettings {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: EXPLAIN_OPTIONS });
  const weights = modelPath('explain', values);
  const testIndices = (list(values['test-index']) ?? []).map((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--test-index must be test image numbers (integers >= 0) separated by commas, got '${values['test-index']}'`);
    return n;
  });
  if (positionals.length === 0 && testIndices.length === 0) throw new Error('explain: give one or more images (PNG or JPEG), or --test-index N for Fashion-MNIST test images');
  const layers = list(values.layers);
  if (layers !== undefined && layers.length === 0) throw new Error(`--layers must name one or more layers separated by commas, got '${values.layers}'`);
  return {
    weights,
    images: positionals,
    testIndices,
    layers,
    layer: values.layer,
    classChoice: values.class,
    channels: positiveInt('channels', values.channels, EXPLAIN_DEFAULTS.channels),
    top: positiveInt('top', values.top, EXPLAIN_DEFAULTS.top),
    outDir: values.out ?? EXPLAIN_DEFAULTS.outDir,
    ...resNetInputOptions(values),
  };
}

/** --class as an index into the model's classes: a number, or a class name (exact, else ignoring case). */
export function resolveClass(choice: string | undefined, classNames: readonly string[]): number | undefined {
  if (choice === undefined) return undefined;
  const k = classNames.length;
  if (/^\d+$/.test(choice.trim())) {
    const index = Number(choice);
    if (index >= k) throw new Error(`explain: --class ${index} is out of range: the model has ${k} classes (0 to ${k - 1})`);
    return index;
  }
  const exact = classNames.indexOf(choice);
  if (exact >= 0) return exact;
  const folded = classNames.findIndex((n) => n.toLowerCase() === choice.toLowerCase());
  if (folded >= 0) return folded;
  const known = k <= 20 ? classNames.map((n, i) => `${i} ${n}`).join(', ') : `${k} names, or an index 0 to ${k - 1}`;
  throw new Error(`explain: --class '${choice}' is not one of the model's classes (${known})`);
}

/** One image to explain: a file (decoded when its batch runs) or a Fashion-MNIST test image. */
interface Item {
  /** For file names: unique, short. */
  name: string;
  /** For titles: the file's name, or "test image N (class)". */
  title: string;
  source: string;
  path?: string;
  pixels?: Uint8Array;
  trueClass?: number;
}

/** Short unique names for the output files: the file's name without extension, test-N for test images. */
function items(settings: ExplainSettings, test: { images: Uint8Array; labels: Uint8Array; count: number } | undefined): Item[] {
  const used = new Map<string, number>();
  const unique = (name: string): string => {
    const n = (used.get(name) ?? 0) + 1;
    used.set(name, n);
    return n === 1 ? name : `${name}-${n}`;
  };
  const files = settings.images.map((path): Item => ({ name: unique(basename(path, extname(path)) || 'image'), title: basename(path), source: path, path }));
  const tests = settings.testIndices.map((index): Item => {
    if (!test || index >= test.count) throw new Error(`--test-index ${index} is out of range: the test split has ${test?.count ?? 0} images (0 to ${(test?.count ?? 0) - 1})`);
    const label = test.labels[index]!;
    return { name: unique(`test-${index}`), title: `test image ${index} (${FASHION_CLASSES[label]})`, source: `Fashion-MNIST test image ${index}`, pixels: test.images.subarray(index * PIXELS, (index + 1) * PIXELS), trueClass: label };
  });
  return [...files, ...tests];
}

export interface ExplainedImage {
  name: string;
  source: string;
  width: number;
  height: number;
  /** The class the heat maps explain. */
  classIndex: number;
  /** A Fashion-MNIST test image's label. */
  trueClass?: number;
  top: ClassProbability[];
  /** The PNGs written, in order. */
  files: string[];
}

/** The layers drawn: feature maps, and Grad-CAM's (none for a model without maps). */
interface ExplainLayers {
  features: string[];
  gradCam: string | undefined;
}

/** What one image's figures need, read back from the GPU. */
interface ImageViews {
  picture: RgbaImage;
  maps: Map<string, { values: Float32Array; shape: number[] }>;
  heat: ScalarImage | undefined;
  salience: ScalarImage;
  top: ClassProbability[];
  /** Every class's probability. */
  probabilities: Float32Array;
  classIndex: number;
}

function featureFigure(item: Item, layer: string, values: Float32Array, shape: readonly number[], channels: number): Figure {
  const pictures = featureMapPictures(values, shape, { limit: channels, order: 'active' });
  const units = shape.length === 1;
  const labels = pictures.map((p) => (units ? `${layer} · ${shape[0]} units` : `${layer} · ${p.channel}`));
  const title = `${item.title}: ${units ? 'activations' : 'feature maps'} of ${layer}`;
  const what = units
    ? `the ${shape[0]} units of ${layer}, in order, row by row; scaled to their range`
    : `${pictures.length} of the ${shape[0]} ${shape[1]}x${shape[2]} maps of ${layer}, the most active first; each scaled to its own range`;
  const subtitle = `${what} (black: lowest, white: highest)`;
  // Maps enlarged by a whole factor (every activation a crisp square) to about 96 pixels, one map alone to about 240.
  const side = Math.max(pictures[0]!.image.width, pictures[0]!.image.height);
  const cellSize = side * Math.max(1, Math.round((pictures.length === 1 ? 240 : 96) / side));
  const columns = Math.min(8, pictures.length);
  // Cells wide enough for their labels, and a lone one for the title and subtitle too.
  const text = columns === 1 ? [textWidth(title, SIZES.panelTitle), textWidth(subtitle, SIZES.caption)] : [];
  const cellWidth = Math.ceil(Math.max(cellSize, ...labels.map((l) => textWidth(l, SIZES.caption) + 6), ...text));
  return imageGrid(
    pictures.map((p, i) => ({ image: p.image, label: labels[i] })),
    { title, subtitle, columns, cellSize, cellWidth },
  );
}

/** A round full scale for the bars: 100% unless every probability is small. */
function barScale(largest: number): number {
  return [0.02, 0.04, 0.1, 0.2, 0.4, 0.8, 1].find((m) => largest <= m) ?? 1;
}

function topFigure(item: Item, model: LoadedModel, view: ImageViews): Figure {
  // The top classes, and the explained one after them when it is not among them.
  const listed = view.top.some((c) => c.index === view.classIndex);
  const bars = listed
    ? view.top
    : [...view.top, { index: view.classIndex, name: model.classNames[view.classIndex]!, probability: view.probabilities[view.classIndex]!, logProbability: NaN }];
  const truth = item.trueClass === undefined ? '' : `; true class: ${model.classNames[item.trueClass]}`;
  return barChart(
    bars.map((c) => ({ label: c.name, value: c.probability, color: c.index === view.classIndex ? COLORS.orange : COLORS.blue })),
    {
      title: `${item.title}: the ${view.top.length} most probable classes${listed ? '' : ', and the one explained'}`,
      subtitle: `${model.title}; orange: the class the heat maps explain${truth}`,
      max: barScale(Math.max(...bars.map((c) => c.probability))),
    },
  );
}

/** Runs one batch on the GPU and reads back what the figures need. */
async function explainBatch(model: LoadedModel, input: Tensor, settings: ExplainSettings, layers: ExplainLayers, classIndex: number | undefined): Promise<ImageViews[]> {
  const n = input.shape[0]!;
  const norm = inputNormalisation(model);
  const pictures = imagesFromTensor(await input.toArray(), input.shape, norm.mean, norm.std);
  const maps = featureMaps(model.model, input, layers.features);
  const read = new Map<string, Float32Array>();
  const shapes = new Map([...maps].map(([layer, t]) => [layer, t.shape.slice(1)]));
  try {
    for (const [layer, t] of maps) read.set(layer, await t.toArray());
  } finally {
    for (const t of maps.values()) t.dispose();
  }
  let cam: GradCamResult | undefined;
  let s: SaliencyResult | undefined;
  try {
    cam = layers.gradCam === undefined ? undefined : await gradCam(model.model, input, { layer: layers.gradCam, classIndex });
    s = await saliency(model.model, input, { classIndex: cam?.classIndex ?? classIndex });
    const heat = cam ? await readHeatmaps(cam.heatmap) : undefined;
    const scaled = minMaxNormalize(s.map);
    const salience = await readHeatmaps(scaled).finally(() => scaled.dispose());
    const probabilities = await classProbabilities(s.logits, model.classNames, { top: settings.top });
    const explained = s.classIndex;
    return Array.from({ length: n }, (_, i) => ({
      picture: pictures[i]!,
      maps: new Map([...read].map(([layer, values]) => {
        const per = values.length / n;
        return [layer, { values: values.subarray(i * per, (i + 1) * per), shape: shapes.get(layer)! }];
      })),
      heat: heat?.[i],
      salience: salience[i]!,
      top: probabilities[i]!.top,
      probabilities: probabilities[i]!.probabilities,
      classIndex: explained[i]!,
    }));
  } finally {
    cam?.dispose();
    s?.dispose();
  }
}

/** A batch's input tensor, and each image's size as given. */
async function batchInput(engine: Engine, model: LoadedModel, batch: readonly Item[], options: ModelInputOptions): Promise<{ input: Tensor; sizes: Array<[number, number]> }> {
  const sizes: Array<[number, number]> = [];
  if (model.channels === 1) {
    const pixels: Uint8Array[] = [];
    for (const item of batch) {
      if (item.pixels) {
        pixels.push(item.pixels);
        sizes.push([IMAGE_SIDE, IMAGE_SIDE]);
      } else {
        const image = await readImage(item.path!);
        pixels.push(fashionPixels(image).pixels);
        sizes.push([image.width, image.height]);
      }
    }
    return { input: fashionTensor(engine, pixels), sizes };
  }
  const images = [];
  for (const item of batch) images.push(await readImage(item.path!));
  for (const image of images) sizes.push([image.width, image.height]);
  return { input: modelInput(engine, model, images, options), sizes };
}

/** One image's figures, by file name. */
function figures(item: Item, model: LoadedModel, view: ImageViews, layers: ExplainLayers, settings: ExplainSettings): Array<[string, Figure]> {
  const p = view.top.find((c) => c.index === view.classIndex)?.probability;
  const about = `"${model.classNames[view.classIndex]}"${p === undefined ? '' : ` (${formatPercent(p)})`}`;
  const seen = 'Input, as the model sees it';
  const out: Array<[string, Figure]> = layers.features.map((layer) => {
    const { values, shape } = view.maps.get(layer)!;
    return [`${item.name}-features-${layer}.png`, featureFigure(item, layer, values, shape, settings.channels)];
  });
  if (view.heat) {
    const title = `${item.title}: Grad-CAM at ${layers.gradCam} for ${about}`;
    out.push([`${item.name}-gradcam.png`, heatmapOverlay(view.picture, view.heat, { title, imageCaption: seen, overlayCaption: `Grad-CAM at ${layers.gradCam}`, scaleLabel: 'Relevance' })]);
  }
  const title = `${item.title}: gradient saliency for ${about}`;
  out.push([`${item.name}-saliency.png`, heatmapOverlay(view.picture, view.salience, { title, imageCaption: seen, overlayCaption: '|d score / d pixel|, largest channel', scaleLabel: 'Scaled' })]);
  out.push([`${item.name}-top${settings.top}.png`, topFigure(item, model, view)]);
  return out;
}

/** Loads the model, explains every image, writes the figures; returns what it did per image. */
export async function explainImages(engine: Engine, settings: ExplainSettings, log: (line: string) => void): Promise<ExplainedImage[]> {
  for (const path of settings.images) await readImageHeader(path);
  const loaded = await readModel(engine, settings.weights);
  try {
    if (settings.testIndices.length > 0 && loaded.channels !== 1) throw new Error(`explain: --test-index picks Fashion-MNIST test images, for Fashion-MNIST models; ${settings.weights} holds a ${loaded.title}`);
    const inputOptions = inputOptionsFor('explain', loaded, settings);
    const defaults = EXPLAIN_LAYERS[loaded.kind];
    const layers: ExplainLayers = { features: settings.layers ?? defaults.features, gradCam: settings.layer ?? defaults.gradCam };
    for (const layer of [...layers.features, ...(layers.gradCam ? [layers.gradCam] : [])]) findLayer(loaded.model, layer, 'explain');
    const classIndex = resolveClass(settings.classChoice, loaded.classNames);
    let test;
    if (settings.testIndices.length > 0) {
      const { loadFashionMnist } = await import('../data/fashion-mnist-node.js');
      test = (await loadFashionMnist()).test;
    }
    const all = items(settings, test);
    const done: ExplainedImage[] = [];
    for (let first = 0; first < all.length; first += EXPLAIN_DEFAULTS.batch) {
      const batch = all.slice(first, first + EXPLAIN_DEFAULTS.batch);
      const { input, sizes } = await batchInput(engine, loaded, batch, inputOptions);
      let views: ImageViews[];
      try {
        views = await explainBatch(loaded, input, settings, layers, classIndex);
      } finally {
        input.dispose();
      }
      for (const [i, item] of batch.entries()) {
        const view = views[i]!;
        const files: string[] = [];
        for (const [file, figure] of figures(item, loaded, view, layers, settings)) {
          const path = join(settings.outDir, file);
          await writeFigure(path, figure);
          files.push(path);
        }
        const [width, height] = sizes[i]!;
        done.push({ name: item.name, source: item.source, width, height, classIndex: view.classIndex, trueClass: item.trueClass, top: view.top, files });
      }
    }
    for (const r of done) {
      log([`${r.source} (${r.width}x${r.height})`, ...formatTop(r.top.map((c) => ({ index: c.index, label: c.name, probability: c.probability })))].join('\n'));
      if (r.trueClass !== undefined) log(`  true class: ${FASHION_CLASSES[r.trueClass]} (${r.trueClass})`);
      log(`  explained: ${loaded.classNames[r.classIndex]} (${r.classIndex}); wrote ${r.files.map((f) => basename(f)).join(', ')}`);
    }
    log(`${loaded.title} (${loaded.origin}) on ${engine.adapterName}: ${done.length} image(s) explained; figures in ${settings.outDir}`);
    return done;
  } finally {
    loaded.model.dispose();
  }
}

/** The `explain` command: parse, explain, print. */
export async function runExplainCommand(argv: string[], log: (text: string) => void, engine?: Engine): Promise<ExplainedImage[]> {
  const settings = parseExplainArgs(argv);
  const own = engine ?? (await Engine.create());
  try {
    return await explainImages(own, settings, log);
  } finally {
    if (!engine) own.dispose();
  }
}
