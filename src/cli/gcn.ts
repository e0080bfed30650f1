// The gcn command: graph convolutional networks trained on the GPU, node classification (karate
// club, SBM graphs, Planetoid/Cora files) or graph classification (the graph atlas); prints the
// loss and accuracy per epoch and the final accuracy per seed and on average, and writes figures.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { normalizeRows, oneHotDegree } from '../data/graphs/features.js';
import { graphAtlas } from '../data/graphs/graph-atlas.js';
import type { NodeDataset } from '../data/graphs/graph.js';
import { karateClub } from '../data/graphs/karate-club.js';
import { readPlanetoid } from '../data/graphs/planetoid-node.js';
import { stochasticBlockModel } from '../data/graphs/sbm.js';
import { randomSplit } from '../data/graphs/split.js';
import { permutation } from '../data/shuffle.js';
import { formatPercent } from '../figure/ticks.js';
import { GcnGraph } from '../nn/gcn-graph.js';
import { Engine } from '../runtime/engine.js';
import { writeFigure } from './figure-file.js';
import { curvesFigure, embeddingFigure, graphFigure } from './gcn-figures.js';
import { trainGraphClassifier, trainNodeClassifier, type EpochRecord } from './gcn-trainer.js';
import { ATLAS_LABELS, GCN_DATASETS, GCN_DEFAULTS, READOUTS } from './gcn-usage.js';
import { didYouMean } from './help.js';
import { choice, positiveInt, positiveNumber } from './options.js';

type Log = (line: string) => void;

/** A number >= 0 (dropout and weight decay may be 0). */
function nonNegative(name: string, value: string | undefined, fallback: number, max = Infinity): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > max) throw new Error(`--${name} must be a number from 0${max < Infinity ? ` to ${max}` : ''}, got '${value}'`);
  return n;
}

function nonNegativeInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be an integer >= 0, got '${value}'`);
  return n;
}

/**
 * `labelsPerClass` nodes of each class for training (drawn by a seeded permutation; fewer when a
 * class is smaller, always leaving it one node to test on), the rest for testing.
 */
export function perClassSplit(labels: Int32Array, classes: number, labelsPerClass: number, seed: number): { train: Int32Array; test: Int32Array } {
  const size = new Int32Array(classes);
  for (const c of labels) size[c]!++;
  const taken = new Int32Array(classes);
  const isTrain = new Uint8Array(labels.length);
  for (const i of permutation(labels.length, seed)) {
    const c = labels[i]!;
    if (taken[c]! < Math.min(labelsPerClass, size[c]! - 1)) {
      taken[c]!++;
      isTrain[i] = 1;
    }
  }
  const all = Int32Array.from({ length: labels.length }, (_, i) => i);
  return { train: all.filter((i) => isTrain[i] === 1), test: all.filter((i) => isTrain[i] === 0) };
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: readonly number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));

function epochLine(r: EpochRecord, epochs: number, heldOut: string): string {
  const width = String(epochs).length;
  return `  epoch ${String(r.epoch).padStart(width)}/${epochs}  loss ${r.loss.toFixed(4)}  train ${formatPercent(r.trainAccuracy)}  ${heldOut} ${formatPercent(r.testAccuracy)}`;
}

function epochLogger(log: Log, epochs: number, every: number, heldOut: string): (r: EpochRecord) => void {
  return (r) => {
    if (r.epoch % every === 0 || r.epoch === epochs) log(epochLine(r, epochs, heldOut));
  };
}

interface CommonOptions {
  epochs?: number;
  lr?: number;
  weightDecay?: number;
  hidden?: number;
  seeds: number;
  seed: number;
  out: string;
  logEvery: number;
}

/** Which dataset: a known name, or an existing path (a Planetoid directory or stem). */
function resolveDataset(value: string): { kind: (typeof GCN_DATASETS)[number] } | { kind: 'planetoid'; path: string } {
  if ((GCN_DATASETS as readonly string[]).includes(value)) return { kind: value as (typeof GCN_DATASETS)[number] };
  const exists = [value, `${value}.content`, value.replace(/\.(content|cites)$/, '') + '.content'].some((p) => existsSync(p));
  if (!exists) {
    throw new Error(
      `gcn: unknown dataset '${value}'${didYouMean(value, [...GCN_DATASETS])}: expected ${GCN_DATASETS.join(', ')} or the path of a Planetoid dataset ` +
        '(a directory holding <name>.content and <name>.cites, or their stem)',
    );
  }
  return { kind: 'planetoid', path: value };
}

export async function runGcnCommand(args: string[], log: Log): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      dataset: { type: 'string' },
      epochs: { type: 'string' },
      lr: { type: 'string' },
      'weight-decay': { type: 'string' },
      hidden: { type: 'string' },
      dropout: { type: 'string' },
      seeds: { type: 'string' },
      seed: { type: 'string' },
      label: { type: 'string' },
      layers: { type: 'string' },
      readout: { type: 'string' },
      out: { type: 'string' },
      'log-every': { type: 'string' },
    },
  });
  const dataset = resolveDataset(values.dataset ?? 'karate');
  const common: CommonOptions = {
    epochs: values.epochs === undefined ? undefined : positiveInt('epochs', values.epochs, 1),
    lr: values.lr === undefined ? undefined : positiveNumber('lr', values.lr, 1),
    weightDecay: values['weight-decay'] === undefined ? undefined : nonNegative('weight-decay', values['weight-decay'], 0),
    hidden: values.hidden === undefined ? undefined : positiveInt('hidden', values.hidden, 1, 4096),
    seeds: positiveInt('seeds', values.seeds, dataset.kind === 'karate' ? GCN_DEFAULTS.karateSeeds : 1, 1000),
    seed: nonNegativeInt('seed', values.seed, GCN_DEFAULTS.seed),
    out: values.out ?? GCN_DEFAULTS.outDir,
    logEvery: positiveInt('log-every', values['log-every'], GCN_DEFAULTS.logEvery),
  };
  const nodeOnly = ['dropout'] as const;
  const graphOnly = ['label', 'layers', 'readout'] as const;
  for (const name of dataset.kind === 'atlas' ? nodeOnly : graphOnly) {
    if (values[name] !== undefined) throw new Error(`gcn: --${name} applies to ${dataset.kind === 'atlas' ? 'node classification (karate, sbm, PATH)' : '--dataset atlas'} only`);
  }
  const started = performance.now();
  const engine = await Engine.create();
  try {
    log(`adapter: ${engine.adapterName}`);
    await mkdir(common.out, { recursive: true });
    if (dataset.kind === 'atlas') {
      await runAtlas(engine, log, common, {
        label: choice('label', values.label, ATLAS_LABELS) ?? GCN_DEFAULTS.atlasLabel,
        layers: positiveInt('layers', values.layers, GCN_DEFAULTS.graph.layers, 16),
        readout: choice('readout', values.readout, READOUTS) ?? GCN_DEFAULTS.graph.readout,
      });
    } else {
      const dropout = nonNegative('dropout', values.dropout, GCN_DEFAULTS.node.dropout, 0.99);
      await runNodeTask(engine, log, common, dropout, dataset);
    }
    log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    engine.dispose();
  }
}

interface NodeSource {
  name: string;
  data: NodeDataset;
  /** Fixed labelled nodes (karate), or undefined: labelsPerClass drawn per seed. */
  train?: Int32Array;
  heldOut: string;
}

async function loadNodeDataset(log: Log, dataset: ReturnType<typeof resolveDataset>, seed: number): Promise<NodeSource> {
  if (dataset.kind === 'karate') {
    const club = karateClub();
    log(`dataset: Zachary's karate club, ${club.numNodes} members, ${club.edgeIndex.length / 4} friendships; labelled: members ${Array.from(club.trainNodes).join(' and ')}`);
    return { name: 'karate', data: club, train: club.trainNodes, heldOut: 'unlabelled' };
  }
  if (dataset.kind === 'sbm') {
    const s = GCN_DEFAULTS.sbm;
    const data = stochasticBlockModel({ ...s, seed });
    log(`dataset: stochastic block model (seed ${seed}): ${s.nodes} nodes, ${s.edges} edges, ${s.communities} communities, ${s.features} features (noise ${s.noise})`);
    return { name: 'sbm', data, heldOut: 'test' };
  }
  if (dataset.kind !== 'planetoid') throw new Error(`gcn: ${dataset.kind} is not a node dataset`);
  const raw = await readPlanetoid(dataset.path);
  const data = { ...raw, features: normalizeRows(raw.features, raw.numNodes, raw.numFeatures, 'gcn') };
  log(`dataset: ${dataset.path}: ${data.numNodes} nodes, ${data.edgeIndex.length / 2} directed edges, ${data.numFeatures} features, ${data.classNames.length} classes`);
  return { name: 'planetoid', data, heldOut: 'test' };
}

async function runNodeTask(engine: Engine, log: Log, o: CommonOptions, dropout: number, dataset: ReturnType<typeof resolveDataset>): Promise<void> {
  const source = await loadNodeDataset(log, dataset, o.seed);
  const { data } = source;
  const classes = data.classNames.length;
  const d = GCN_DEFAULTS.node;
  const settings = { epochs: o.epochs ?? d.epochs, lr: o.lr ?? d.lr, weightDecay: o.weightDecay ?? d.weightDecay, hidden: o.hidden ?? d.hidden, dropout };
  log(`model: GCNConv(${data.numFeatures}, ${settings.hidden}), ReLU, GCNConv(${settings.hidden}, ${classes}); dropout ${dropout}; Adam lr ${settings.lr}, weight decay ${settings.weightDecay}; ${settings.epochs} epochs`);
  const graph = GcnGraph.create(engine, data);
  const features = engine.tensor(data.features, [data.numNodes, data.numFeatures]);
  const accuracies: number[] = [];
  try {
    for (let k = 0; k < o.seeds; k++) {
      const seed = o.seed + k;
      const split = source.train
        ? { train: source.train, test: Int32Array.from({ length: data.numNodes }, (_, i) => i).filter((i) => !source.train!.includes(i)) }
        : perClassSplit(data.labels, classes, GCN_DEFAULTS.labelsPerClass, seed);
      if (k === 0) log(`seed ${seed}: ${split.train.length} labelled nodes, ${split.test.length} ${source.heldOut}`);
      const t0 = performance.now();
      const result = await trainNodeClassifier(engine, graph, features, { dataset: data, ...split }, { ...settings, seed, onEpoch: k === 0 ? epochLogger(log, settings.epochs, o.logEvery, source.heldOut) : undefined });
      const accuracy = result.history.at(-1)!.testAccuracy;
      accuracies.push(accuracy);
      const ms = (performance.now() - t0) / settings.epochs;
      log(`seed ${seed}: accuracy on the ${split.test.length} ${source.heldOut} nodes ${formatPercent(accuracy)} (${ms.toFixed(1)} ms per epoch)`);
      if (k === 0) await writeNodeFigures(log, o.out, source, split.train, result);
    }
  } finally {
    features.dispose();
    graph.dispose();
  }
  if (o.seeds > 1) {
    log(`accuracy on the ${source.heldOut} nodes over ${o.seeds} seeds: ${formatPercent(mean(accuracies))} mean (std ${formatPercent(std(accuracies))}; ${accuracies.map((a) => formatPercent(a)).join(', ')})`);
  }
}

async function writeNodeFigures(log: Log, out: string, source: NodeSource, train: Int32Array, result: Awaited<ReturnType<typeof trainNodeClassifier>>): Promise<void> {
  const { data, name } = source;
  const written: string[] = [];
  const write = async (file: string, figure: Parameters<typeof writeFigure>[1]) => {
    await writeFigure(join(out, file), figure);
    written.push(join(out, file));
  };
  const last = result.history.at(-1)!;
  const hidden = result.embedding.length / data.numNodes;
  if (name === 'karate') {
    await write('gcn-karate-graph.png', graphFigure(data.numNodes, data.edgeIndex, data.labels, result.predicted, data.classNames, train, `Karate club: GCN from 2 labelled members, ${formatPercent(last.testAccuracy)} of the rest right`));
  }
  await write(`gcn-${name}-embedding.png`, embeddingFigure(result.embedding, hidden, data.labels, result.predicted, data.classNames, `Hidden layer (${hidden}-d) of the trained GCN, projected to 2-D`, data.numNodes <= 100));
  await write(`gcn-${name}-curves.png`, curvesFigure(result.history, `GCN on ${name}: loss and accuracy per epoch`, source.heldOut));
  log(`figures: ${written.join(', ')}`);
}

interface AtlasOptions {
  label: (typeof ATLAS_LABELS)[number];
  layers: number;
  readout: (typeof READOUTS)[number];
}

/** The maximum degree in the atlas's graphs of up to 7 nodes. */
const ATLAS_MAX_DEGREE = 6;

async function runAtlas(engine: Engine, log: Log, o: CommonOptions, a: AtlasOptions): Promise<void> {
  const atlas = graphAtlas(a.label);
  const d = GCN_DEFAULTS.graph;
  const settings = { epochs: o.epochs ?? d.epochs, lr: o.lr ?? d.lr, weightDecay: o.weightDecay ?? d.weightDecay, hidden: o.hidden ?? d.hidden, layers: a.layers };
  const features = atlas.graphs.map((g) => oneHotDegree(g, ATLAS_MAX_DEGREE, 'gcn'));
  const positives = atlas.labels.reduce((n, l) => n + l, 0);
  log(`dataset: the graph atlas, ${atlas.graphs.length} graphs of 1-7 nodes, label ${a.label} (${atlas.classNames[1]}: ${positives}, ${atlas.classNames[0]}: ${atlas.graphs.length - positives}); node features: one-hot degree`);
  log(`model: ${settings.layers} x (GCNConv, ReLU) with ${settings.hidden} channels, ${a.readout} readout, Linear(${settings.hidden}, 2); Adam lr ${settings.lr}; ${settings.epochs} full-batch epochs`);
  const accuracies: number[] = [];
  for (let k = 0; k < o.seeds; k++) {
    const seed = o.seed + k;
    const split = randomSplit(atlas.graphs.length, { test: GCN_DEFAULTS.testFraction }, seed);
    const testPositives = Array.from(split.test).filter((g) => atlas.labels[g] === 1).length;
    const majority = Math.max(testPositives, split.test.length - testPositives) / split.test.length;
    if (k === 0) log(`seed ${seed}: ${split.train.length} training graphs, ${split.test.length} test graphs`);
    const t0 = performance.now();
    const result = await trainGraphClassifier(
      engine,
      { graphs: atlas.graphs, labels: atlas.labels, classNames: atlas.classNames, features, numFeatures: ATLAS_MAX_DEGREE + 1, train: split.train, test: split.test },
      { ...settings, seed, onEpoch: k === 0 ? epochLogger(log, settings.epochs, o.logEvery, 'test') : undefined },
    );
    const accuracy = result.history.at(-1)!.testAccuracy;
    accuracies.push(accuracy);
    log(`seed ${seed}: test accuracy ${formatPercent(accuracy)}; the majority class is ${formatPercent(majority)} of the test graphs (${((performance.now() - t0) / settings.epochs).toFixed(1)} ms per epoch)`);
    if (k === 0) {
      const file = join(o.out, `gcn-atlas-${a.label}-curves.png`);
      await writeFigure(file, curvesFigure(result.history, `GCN + ${a.readout} readout on the graph atlas (${a.label})`, 'test'));
      log(`figures: ${file}`);
    }
  }
  if (o.seeds > 1) log(`test accuracy over ${o.seeds} seeds: ${formatPercent(mean(accuracies))} mean (${accuracies.map((x) => formatPercent(x)).join(', ')})`);
}
