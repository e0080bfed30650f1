// A training run's whole state in one safetensors file, so that one atomic write (new file, then
// rename) replaces the previous checkpoint and a crash at any moment leaves a complete one:
// - tensors `model.<name>`: the model's state dict (parameters and batch-norm buffers);
// - tensors `optimizer.<key>`: the optimiser's state tensors (momentum buffers, Adam's moments);
// - metadata: the optimiser's state dict tag and numbers (step counters, hyperparameters), the
//   modules' extra state (Dropout's mask counters, tagged by each module), the position (epoch,
//   batch within it, steps taken), the seed, a caller-defined JSON `info`, and the model
//   description (`model_kind`, `class_names`: see src/io/checkpoint.ts).
// The data order and the augmentation are pure functions of (seed, epoch, image) (see
// src/data/image-folder.ts), so the seed and the position are their whole state. Optimisers and
// stateful modules describe their own state (Optimizer.stateDict, Module.extraStates); this file
// only stores and restores it. Bytes only: no `node:` imports (writing the file atomically is
// src/io/atomic-write.ts's job in Node).
import type { Module, ModuleState } from '../nn/module.js';
import type { Optimizer, OptimizerState } from '../optim/optimizer.js';
import type { Engine } from '../runtime/engine.js';
import type { Tensor } from '../runtime/tensor.js';
import { modelDescriptionMetadata, readModelDescription, readTensors, type ModelDescription } from './checkpoint.js';
import { decodeSafetensors, encodeSafetensors, toFloat32, type SafeTensor } from './safetensors.js';

/** The metadata value that marks a training checkpoint (and its layout's version). */
export const TRAINING_CHECKPOINT_FORMAT = 'webgpu-cnn.training-checkpoint.v2';

/** What every version's marker starts with: a checkpoint of another version (v1 kept Dropout counters its own way) is refused by name. */
const FORMAT_PREFIX = 'webgpu-cnn.training-checkpoint.';

const MODEL_PREFIX = 'model.';
const OPTIMIZER_PREFIX = 'optimizer.';

/** Where training stands. */
export interface TrainingPosition {
  /** The epoch in progress, counted from 0. */
  epoch: number;
  /** Batches of that epoch already trained, i.e. the next batch to train. */
  batch: number;
  /** Optimiser steps taken in all. */
  step: number;
}

export interface TrainingCheckpoint<Info = unknown> {
  /** The model's state dict as stored (float32). */
  model: Map<string, SafeTensor>;
  /** The modules' extra state (Module.extraStates: Dropout's mask counters), by module name. */
  modules: Record<string, ModuleState>;
  /** The optimiser's state dict: its type tag, its numbers and its tensors. */
  optimizer: { type: string; numbers: Record<string, number>; tensors: Map<string, SafeTensor> };
  position: TrainingPosition;
  /** Seeds the shuffling order and the augmentation draws (with the position, their whole state). */
  seed: number;
  /** What the caller saved beside the state (settings, history); JSON. */
  info: Info;
  /** What the model is (kind, class names); undefined in checkpoints written without one. */
  description: ModelDescription | undefined;
}

export class CheckpointError extends Error {
  constructor(source: string, message: string) {
    super(`${source || 'training checkpoint'}: ${message}`);
    this.name = 'CheckpointError';
  }
}

/**
 * Serialises the model, the optimiser, the position, the RNG state and `info` into one
 * safetensors file (bytes). The GPU state is read after everything recorded so far has run.
 */
export async function encodeTrainingCheckpoint(
  model: Module,
  optimizer: Optimizer,
  state: { position: TrainingPosition; seed: number; info?: unknown; description?: ModelDescription },
): Promise<Uint8Array> {
  checkPosition('', state.position);
  if (!Number.isSafeInteger(state.seed) || state.seed < 0) throw new CheckpointError('', `seed must be an integer >= 0, got ${state.seed}`);
  const named: Array<[string, Tensor]> = [];
  for (const [name, t] of model.stateDict()) named.push([MODEL_PREFIX + name, t]);
  const numbers: Record<string, number> = {};
  const optimizerState = optimizer.stateDict();
  for (const [key, v] of Object.entries(optimizerState.state)) {
    if (typeof v === 'number') numbers[key] = v;
    else named.push([OPTIMIZER_PREFIX + key, v]);
  }
  const data = await readTensors(
    optimizer.engine,
    named.map(([, t]) => t),
  );
  return encodeSafetensors(
    named.map(([name, t], i): [string, SafeTensor] => [name, { dtype: 'F32', shape: [...t.shape], data: data[i]! }]),
    {
      format: TRAINING_CHECKPOINT_FORMAT,
      optimizer: JSON.stringify({ type: optimizerState.type, numbers }),
      modules: JSON.stringify(model.extraStates()),
      position: JSON.stringify(state.position),
      seed: JSON.stringify(state.seed),
      info: JSON.stringify(state.info ?? null),
      ...(state.description ? modelDescriptionMetadata(state.description) : {}),
    },
  );
}

function checkPosition(source: string, p: unknown): TrainingPosition {
  const ok =
    typeof p === 'object' &&
    p !== null &&
    (['epoch', 'batch', 'step'] as const).every((k) => Number.isSafeInteger((p as Record<string, unknown>)[k]) && ((p as Record<string, number>)[k] ?? -1) >= 0);
  if (!ok) throw new CheckpointError(source, `position must be { epoch, batch, step } of integers >= 0, got ${JSON.stringify(p)}`);
  const { epoch, batch, step } = p as TrainingPosition;
  return { epoch, batch, step };
}

function parseJson(source: string, metadata: Record<string, string>, key: string): unknown {
  const text = metadata[key];
  if (text === undefined) throw new CheckpointError(source, `the metadata has no '${key}' entry`);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CheckpointError(source, `metadata '${key}' is not valid JSON: ${(err as Error).message}`);
  }
}

const isRecordOf = (v: unknown, ok: (x: unknown) => boolean): v is Record<string, never> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every(ok);

const isNumber = (x: unknown) => typeof x === 'number';

/** { type: string, <field>: { name: number } }: a tagged state as stored. */
const isTagged = (v: unknown, field: string): boolean =>
  typeof v === 'object' && v !== null && typeof (v as Record<string, unknown>)['type'] === 'string' && isRecordOf((v as Record<string, unknown>)[field], isNumber);

/** Whether these safetensors metadata mark a training checkpoint. */
export function isTrainingCheckpoint(metadata: Record<string, string>): boolean {
  return metadata['format'] === TRAINING_CHECKPOINT_FORMAT;
}

/** Parses and checks a training checkpoint's bytes (nothing touches the GPU). */
export function decodeTrainingCheckpoint<Info = unknown>(bytes: Uint8Array, source = ''): TrainingCheckpoint<Info> {
  const { tensors, metadata } = decodeSafetensors(bytes, source);
  const format = metadata['format'];
  if (!isTrainingCheckpoint(metadata)) {
    if (format?.startsWith(FORMAT_PREFIX)) {
      throw new CheckpointError(source, `a training checkpoint of format '${format}', which this version does not read (it reads '${TRAINING_CHECKPOINT_FORMAT}'); start the training afresh`);
    }
    const found = format === undefined ? 'no format entry' : `format ${JSON.stringify(format)}`;
    throw new CheckpointError(source, `not a training checkpoint (expected metadata format '${TRAINING_CHECKPOINT_FORMAT}', found ${found})`);
  }
  const optimizer = parseJson(source, metadata, 'optimizer') as { type: string; numbers: Record<string, number> };
  if (!isTagged(optimizer, 'numbers')) throw new CheckpointError(source, `metadata 'optimizer' must be { type, numbers: { name: number } }, got ${metadata['optimizer']}`);
  const modules = parseJson(source, metadata, 'modules') as Record<string, ModuleState>;
  if (!isRecordOf(modules, (m) => isTagged(m, 'state'))) {
    throw new CheckpointError(source, `metadata 'modules' must be { module: { type, state: { name: number } } }, got ${metadata['modules']}`);
  }
  const position = checkPosition(source, parseJson(source, metadata, 'position'));
  const seed = parseJson(source, metadata, 'seed');
  if (!Number.isSafeInteger(seed) || (seed as number) < 0) throw new CheckpointError(source, `metadata 'seed' must be an integer >= 0, got ${metadata['seed']}`);
  const model = new Map<string, SafeTensor>();
  const optimizerTensors = new Map<string, SafeTensor>();
  for (const [name, t] of tensors) {
    if (name.startsWith(MODEL_PREFIX)) model.set(name.slice(MODEL_PREFIX.length), t);
    else if (name.startsWith(OPTIMIZER_PREFIX)) optimizerTensors.set(name.slice(OPTIMIZER_PREFIX.length), t);
    else throw new CheckpointError(source, `tensor '${name}' is neither 'model.*' nor 'optimizer.*'`);
  }
  if (model.size === 0) throw new CheckpointError(source, 'the checkpoint holds no model tensors');
  return {
    model,
    modules,
    optimizer: { type: optimizer.type, numbers: optimizer.numbers, tensors: optimizerTensors },
    position,
    seed: seed as number,
    info: parseJson(source, metadata, 'info') as Info,
    description: describedModel(source, metadata),
  };
}

function describedModel(source: string, metadata: Record<string, string>): ModelDescription | undefined {
  try {
    return readModelDescription(metadata, source);
  } catch (err) {
    throw new CheckpointError(source, (err as Error).message.replace(`${source || 'checkpoint'}: `, ''));
  }
}

/** Uploads host tensors (any dtype, as float32); the caller disposes them. */
export function uploadTensors(engine: Engine, tensors: ReadonlyMap<string, SafeTensor>): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  try {
    for (const [name, t] of tensors) out.set(name, engine.tensor(toFloat32(t), t.shape));
  } catch (err) {
    for (const t of out.values()) t.dispose(); // no partial upload outlives the error
    throw err;
  }
  return out;
}

/**
 * Puts a checkpoint's state into a freshly built model and optimiser of the same kind (the
 * optimiser over the same parameters, in the same order): model tensors (strictly: every name and
 * shape must match), the modules' extra state and the optimiser's state dict. On an error the model
 * may be loaded and the optimiser not: discard both. The position and seed are the caller's to
 * apply to its data loader.
 */
export function restoreTrainingCheckpoint(engine: Engine, checkpoint: TrainingCheckpoint, model: Module, optimizer: Optimizer, source = ''): void {
  if (optimizer.type !== checkpoint.optimizer.type) {
    throw new CheckpointError(source, `the checkpoint holds ${checkpoint.optimizer.type} state, but training uses ${optimizer.type}`);
  }
  const modelTensors = uploadTensors(engine, checkpoint.model);
  let optimizerTensors = new Map<string, Tensor>();
  try {
    optimizerTensors = uploadTensors(engine, checkpoint.optimizer.tensors);
    const state: OptimizerState = { ...checkpoint.optimizer.numbers };
    for (const [key, t] of optimizerTensors) state[key] = t;
    // Each load checks everything before it changes anything.
    model.loadExtraStates(checkpoint.modules);
    model.loadStateDict(modelTensors, { strict: true });
    optimizer.loadStateDict({ type: checkpoint.optimizer.type, state });
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError(source, (err as Error).message);
  } finally {
    for (const t of [...modelTensors.values(), ...optimizerTensors.values()]) t.dispose();
  }
}
