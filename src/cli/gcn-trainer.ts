// Training loops of the gcn command: full-batch node classification with a 2-layer GCN (karate
// club, SBM, Planetoid/Cora) and full-batch graph classification with GCN + readout + Linear (the
// graph atlas). Each epoch is one forward pass, one backward pass and one Adam step on the GPU,
// recorded and submitted together; then an evaluation pass whose logits are read back.
import { Tape } from '../autograd/tape.js';
import { constant, type Variable } from '../autograd/variable.js';
import type { NodeDataset } from '../data/graphs/graph.js';
import { GcnGraph, graphBatch, type GraphBatch } from '../nn/gcn-graph.js';
import { GCN, GraphClassifier, type GraphInput, type GraphModule } from '../nn/gcn.js';
import { Rng } from '../nn/init.js';
import { Adam } from '../optim/adam.js';
import type { Engine } from '../runtime/engine.js';
import type { Tensor } from '../runtime/tensor.js';
import type { Graph } from '../data/graphs/graph.js';
import { argmaxRows } from './report.js';

export interface EpochRecord {
  epoch: number;
  /** Training loss before this epoch's step. */
  loss: number;
  trainAccuracy: number;
  testAccuracy: number;
}

export interface TrainSettings {
  epochs: number;
  lr: number;
  weightDecay: number;
  seed: number;
  /** Called after each epoch. */
  onEpoch?: (record: EpochRecord) => void;
}

/** The fraction of `items` whose prediction equals the label (NaN for none). */
export function accuracyOn(predicted: Int32Array, labels: Int32Array, items: ArrayLike<number>): number {
  let right = 0;
  for (let k = 0; k < items.length; k++) if (predicted[items[k]!] === labels[items[k]!]) right++;
  return items.length === 0 ? NaN : right / items.length;
}

/** Targets with every item outside `train` set to cross-entropy's ignore index (-100). */
function maskedTargets(labels: Int32Array, train: ArrayLike<number>): Int32Array {
  const out = new Int32Array(labels.length).fill(-100);
  for (let k = 0; k < train.length; k++) out[train[k]!] = labels[train[k]!]!;
  return out;
}

interface Run {
  model: GraphModule;
  x: Variable;
  input: GraphInput;
  target: Tensor<'int32'>;
  classes: number;
  labels: Int32Array;
  train: ArrayLike<number>;
  test: ArrayLike<number>;
}

/** The shared loop: Adam steps on the masked cross-entropy, an evaluation read back after each. */
async function trainLoop(engine: Engine, run: Run, settings: TrainSettings): Promise<{ history: EpochRecord[]; predicted: Int32Array; logits: Float32Array }> {
  const { model, x, input, target, classes, labels, train, test } = run;
  const adam = new Adam(model.parameters(), { lr: settings.lr, weightDecay: settings.weightDecay });
  const history: EpochRecord[] = [];
  let logits: Float32Array = new Float32Array(0);
  let predicted: Int32Array = new Int32Array(0);
  for (let epoch = 1; epoch <= settings.epochs; epoch++) {
    model.train();
    const tape = new Tape(engine);
    let loss: Tensor;
    try {
      const l = tape.crossEntropy(model.callGraph(tape, x, input), target);
      adam.zeroGrad();
      tape.backward(l);
      adam.step();
      loss = tape.keep(l).value;
    } finally {
      tape.dispose();
    }
    model.eval();
    const evaluation = new Tape(engine, { grad: false });
    try {
      logits = await model.callGraph(evaluation, x, input).value.toArray();
    } finally {
      evaluation.dispose();
    }
    const lossValue = (await loss.toArray())[0]!;
    loss.dispose();
    predicted = Int32Array.from(argmaxRows(logits, classes));
    const record = { epoch, loss: lossValue, trainAccuracy: accuracyOn(predicted, labels, train), testAccuracy: accuracyOn(predicted, labels, test) };
    history.push(record);
    settings.onEpoch?.(record);
  }
  return { history, predicted, logits };
}

export interface NodeTask {
  dataset: NodeDataset;
  /** Nodes whose labels the loss sees. */
  train: Int32Array;
  /** Nodes accuracy is reported on. */
  test: Int32Array;
}

export interface NodeModelSettings extends TrainSettings {
  hidden: number;
  dropout: number;
}

export interface NodeResult {
  history: EpochRecord[];
  predicted: Int32Array;
  /** The hidden layer of the trained model (evaluation mode): [nodes, hidden], row-major. */
  embedding: Float32Array;
}

/** Trains a fresh 2-layer GCN (seeded) on one node-classification task. */
export async function trainNodeClassifier(engine: Engine, graph: GcnGraph, features: Tensor, task: NodeTask, settings: NodeModelSettings): Promise<NodeResult> {
  const { dataset } = task;
  const classes = dataset.classNames.length;
  const model = new GCN(engine, dataset.numFeatures, classes, { hidden: settings.hidden, dropout: settings.dropout, rng: new Rng(settings.seed) });
  const target = engine.tensor(maskedTargets(dataset.labels, task.train));
  const x = constant(features);
  try {
    const input = { graph };
    const { history, predicted } = await trainLoop(engine, { model, x, input, target, classes, labels: dataset.labels, train: task.train, test: task.test }, settings);
    model.eval();
    const tape = new Tape(engine, { grad: false });
    let embedding: Float32Array;
    try {
      embedding = await model.embed(tape, x, input).value.toArray();
    } finally {
      tape.dispose();
    }
    return { history, predicted, embedding };
  } finally {
    target.dispose();
    model.dispose();
  }
}

export interface GraphTask {
  graphs: readonly Graph[];
  labels: Int32Array;
  classNames: readonly string[];
  /** Node features of each graph, [nodes, numFeatures] row-major. */
  features: readonly Float32Array[];
  numFeatures: number;
  train: Int32Array;
  test: Int32Array;
}

export interface GraphModelSettings extends TrainSettings {
  hidden: number;
  layers: number;
}

/**
 * Trains a fresh GraphClassifier (seeded) on all graphs at once: one block-diagonal batch of every
 * graph, built once, with the loss on the training graphs only (the test graphs' logits come out
 * of the same pass, and no gradient reaches the model from them: each graph's logits depend on
 * its own nodes alone).
 */
export async function trainGraphClassifier(engine: Engine, task: GraphTask, settings: GraphModelSettings): Promise<{ history: EpochRecord[]; predicted: Int32Array }> {
  const classes = task.classNames.length;
  const batch: GraphBatch = graphBatch(engine, task.graphs);
  const features = new Float32Array(batch.ptr[batch.numGraphs]! * task.numFeatures);
  task.features.forEach((f, g) => features.set(f, batch.ptr[g]! * task.numFeatures));
  const x = constant(engine.tensor(features, [batch.ptr[batch.numGraphs]!, task.numFeatures]));
  const model = new GraphClassifier(engine, task.numFeatures, classes, { hidden: settings.hidden, layers: settings.layers, rng: new Rng(settings.seed) });
  const target = engine.tensor(maskedTargets(task.labels, task.train));
  try {
    const input = { graph: batch.graph, readout: batch.readout };
    const { history, predicted } = await trainLoop(engine, { model, x, input, target, classes, labels: task.labels, train: task.train, test: task.test }, settings);
    return { history, predicted };
  } finally {
    target.dispose();
    model.dispose();
    x.dispose();
    batch.dispose();
  }
}
