// Any model file this project writes or reads, loaded into a ready Module with its class names:
// - `train` checkpoints (the Fashion-MNIST DNN or CNN; model_kind fashion-dnn / fashion-cnn),
// - `transfer-train` checkpoints (ResNet18 with a new fc and the image folder's class names;
//   model_kind resnet18-transfer),
// - torchvision resnet18 state dicts in safetensors (scripts/export_resnet18.py; ImageNet's class
//   names when fc has 1000 rows, "class i" otherwise),
// - the model file of an older `train` version's two-file checkpoint (metadata model: dnn | cnn).
// What the file is comes from its safetensors metadata (src/io/checkpoint.ts), or, for a plain
// state dict, from its tensor names. The model is put in evaluation mode with every parameter
// frozen (no gradient is ever computed for a weight of a model loaded for use), so ResNet18's
// frozen blocks run as inference does. Bytes only: no `node:` imports.
import { FASHION_CLASSES } from '../data/fashion-mnist.js';
import { IMAGENET_CLASSES } from '../data/imagenet.js';
import { CHECKPOINT_MODEL_KINDS, MODEL_KIND_KEY, readModelDescription, type CheckpointModelKind, type ModelDescription } from '../io/checkpoint.js';
import { decodeSafetensors, type SafeTensor } from '../io/safetensors.js';
import { decodeTrainingCheckpoint, isTrainingCheckpoint, uploadTensors } from '../io/training-checkpoint.js';
import type { Engine } from '../runtime/engine.js';
import { fashionCnn, fashionDnn } from './models/fashion.js';
import { loadResNet18Module, resnet18Module } from './models/resnet18-module.js';
import type { Module } from './module.js';

/** What a loaded model is: a checkpoint's kind, or 'resnet18' for a torchvision state dict. */
export type LoadedModelKind = CheckpointModelKind | 'resnet18';

export interface LoadedModel {
  kind: LoadedModelKind;
  /** In evaluation mode, every parameter frozen. */
  model: Module;
  /** The class of each output index. */
  classNames: readonly string[];
  /** The input it takes: [N, channels, size, size] (ResNet18 takes other sizes too, 32 and up). */
  channels: 1 | 3;
  /** Fashion models: 28; ResNet18: the size a transfer checkpoint was trained at, else 224. */
  size: number;
  /** The model's name for messages: "Fashion-MNIST CNN", "ResNet18". */
  title: string;
  /** Where its weights come from: "train checkpoint, epoch 3", "torchvision weights, ImageNet classes". */
  origin: string;
}

export class ModelFileError extends Error {
  constructor(source: string, message: string) {
    super(`${source || 'model file'}: ${message}`);
    this.name = 'ModelFileError';
  }
}

const TITLES: Record<LoadedModelKind, string> = {
  'fashion-cnn': 'Fashion-MNIST CNN',
  'fashion-dnn': 'Fashion-MNIST DNN',
  'resnet18-transfer': 'ResNet18 (transfer-trained)',
  resnet18: 'ResNet18',
};

/** What a file holds, before anything reaches the GPU. */
interface ModelFile {
  kind: LoadedModelKind;
  classNames: readonly string[];
  tensors: Map<string, SafeTensor>;
  size: number;
  origin: string;
}

/** A training checkpoint written before model descriptions existed: its `info` says what it is. */
function describeFromInfo(info: unknown): ModelDescription | undefined {
  const i = info as { command?: unknown; model?: unknown; classes?: unknown } | null;
  if (i?.command === 'train' && (i.model === 'cnn' || i.model === 'dnn')) return { kind: `fashion-${i.model}`, classNames: FASHION_CLASSES };
  if (i?.command === 'transfer-train' && Array.isArray(i.classes) && i.classes.every((c) => typeof c === 'string')) {
    return { kind: 'resnet18-transfer', classNames: i.classes as string[] };
  }
  return undefined;
}

/** The training size a transfer checkpoint records (its settings), if any. */
function trainedSize(info: unknown): number | undefined {
  const size = (info as { settings?: { size?: unknown } } | null)?.settings?.size;
  return typeof size === 'number' && Number.isInteger(size) && size >= 32 ? size : undefined;
}

const looksLikeResNet18 = (tensors: ReadonlyMap<string, unknown>) => tensors.has('conv1.weight') && tensors.has('layer4.1.conv2.weight') && tensors.has('fc.weight');

function readModelFile(bytes: Uint8Array, source: string): ModelFile {
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  if (isTrainingCheckpoint(metadata)) {
    const checkpoint = decodeTrainingCheckpoint(bytes, source);
    const description = checkpoint.description ?? describeFromInfo(checkpoint.info);
    if (!description) {
      throw new ModelFileError(source, `a training checkpoint that does not say which model it holds (no '${MODEL_KIND_KEY}' metadata, and its info is not from train or transfer-train)`);
    }
    const command = description.kind === 'resnet18-transfer' ? 'transfer-train' : 'train';
    return {
      kind: description.kind,
      classNames: description.classNames,
      tensors: checkpoint.model,
      size: trainedSize(checkpoint.info) ?? 224,
      origin: `${command} checkpoint, epoch ${checkpoint.position.epoch}${checkpoint.position.batch > 0 ? ` + ${checkpoint.position.batch} batches` : ''}`,
    };
  }
  const description = readModelDescription(metadata, source);
  if (description) return { kind: description.kind, classNames: description.classNames, tensors, size: 224, origin: 'model file' };
  if (metadata['model'] === 'cnn' || metadata['model'] === 'dnn') {
    return { kind: `fashion-${metadata['model']}`, classNames: FASHION_CLASSES, tensors, size: 28, origin: 'model file of an older train checkpoint' };
  }
  if (looksLikeResNet18(tensors)) {
    const rows = tensors.get('fc.weight')!.shape[0] ?? 0;
    const classNames = rows === IMAGENET_CLASSES.length ? IMAGENET_CLASSES : Array.from({ length: rows }, (_, i) => `class ${i}`);
    return { kind: 'resnet18', classNames, tensors, size: 224, origin: rows === IMAGENET_CLASSES.length ? 'torchvision weights, ImageNet classes' : `torchvision weights, ${rows} classes` };
  }
  const names = [...tensors.keys()];
  const shown = names.length === 0 ? 'no tensors' : `tensors ${names.slice(0, 5).join(', ')}${names.length > 5 ? `, ... (${names.length} in all)` : ''}`;
  throw new ModelFileError(
    source,
    `not a model this program knows: no '${MODEL_KIND_KEY}' metadata (one of ${CHECKPOINT_MODEL_KINDS.join(', ')}) and not a torchvision resnet18 state dict (found ${shown})`,
  );
}

function buildModel(engine: Engine, file: ModelFile, bytes: Uint8Array, source: string): Module {
  if (file.kind === 'resnet18') return loadResNet18Module(engine, bytes, { source });
  const model =
    file.kind === 'fashion-cnn' ? fashionCnn(engine) : file.kind === 'fashion-dnn' ? fashionDnn(engine) : resnet18Module(engine, { numClasses: file.classNames.length, init: false });
  try {
    const uploaded = uploadTensors(engine, file.tensors);
    try {
      model.loadStateDict(uploaded, { strict: true });
    } finally {
      for (const t of uploaded.values()) t.dispose();
    }
    return model;
  } catch (err) {
    model.dispose();
    throw err;
  }
}

/**
 * Loads a model file's bytes (any of the kinds above) onto the engine. Throws a ModelFileError
 * (or the safetensors / state-dict error) naming `source` when the file is not one of them, its
 * tensors do not fit the model it names, or its class names do not match the model's outputs.
 */
export function loadModel(engine: Engine, bytes: Uint8Array, options: { source?: string } = {}): LoadedModel {
  const source = options.source ?? '';
  const file = readModelFile(bytes, source);
  const fashion = file.kind === 'fashion-cnn' || file.kind === 'fashion-dnn';
  if (file.classNames.length === 0 || (fashion && file.classNames.length !== FASHION_CLASSES.length)) {
    throw new ModelFileError(source, `a ${TITLES[file.kind]} has ${fashion ? FASHION_CLASSES.length : 'at least 1'} classes, but the file names ${file.classNames.length}`);
  }
  let model: Module;
  try {
    model = buildModel(engine, file, bytes, source);
  } catch (err) {
    if (err instanceof ModelFileError) throw err;
    const message = (err instanceof Error ? err.message : String(err)).replace(`${source}: `, '');
    throw new ModelFileError(source, file.kind === 'resnet18' ? message : `${message} (the file says it holds a ${TITLES[file.kind]})`);
  }
  model.eval();
  model.requiresGrad(false);
  return {
    kind: file.kind,
    model,
    classNames: file.classNames,
    channels: fashion ? 1 : 3,
    size: fashion ? 28 : file.size,
    title: TITLES[file.kind],
    origin: file.origin,
  };
}
