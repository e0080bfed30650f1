// GPU tensors read back for checkpoints (readTensors), and what a checkpoint says about its model.
//
// The model description: any safetensors file this project writes for a trained model (the
// checkpoints of `train` and `transfer-train`) carries two plain-string entries in its safetensors
// metadata, so that a later user of the file (inference, evaluation, export) knows what it holds
// without the command that wrote it:
// - `model_kind`: the architecture and its state-dict names, one of
//     'fashion-cnn'        the textbook Fashion-MNIST CNN (src/nn/models/fashion.ts)
//     'fashion-dnn'        the textbook Fashion-MNIST fully connected network (same file)
//     'resnet18-transfer'  torchvision's resnet18 with a new fc (src/nn/models/resnet18-module.ts)
// - `class_names`: a JSON array of strings, the class of each output index in order (Fashion-
//   MNIST's ten names; transfer-train: the image folder's class names, sorted as its indices are).
// In a training checkpoint (src/io/training-checkpoint.ts) the model's tensors are stored as
// `model.<state-dict name>`. Bytes only: no `node:` imports.
import type { Engine } from '../runtime/engine.js';
import type { Tensor } from '../runtime/tensor.js';

/** The model kinds a checkpoint's `model_kind` names. */
export const CHECKPOINT_MODEL_KINDS = ['fashion-cnn', 'fashion-dnn', 'resnet18-transfer'] as const;
export type CheckpointModelKind = (typeof CHECKPOINT_MODEL_KINDS)[number];

export const MODEL_KIND_KEY = 'model_kind';
export const CLASS_NAMES_KEY = 'class_names';

/** What a checkpoint's model is: its kind and the name of each output class. */
export interface ModelDescription {
  kind: CheckpointModelKind;
  classNames: readonly string[];
}

/** The metadata entries that describe a model. */
export function modelDescriptionMetadata(description: ModelDescription): Record<string, string> {
  if (!CHECKPOINT_MODEL_KINDS.includes(description.kind)) throw new Error(`model description: unknown kind ${JSON.stringify(description.kind)} (known: ${CHECKPOINT_MODEL_KINDS.join(', ')})`);
  if (!description.classNames.every((c) => typeof c === 'string')) throw new Error('model description: class names must be strings');
  return { [MODEL_KIND_KEY]: description.kind, [CLASS_NAMES_KEY]: JSON.stringify(description.classNames) };
}

/** The model description in safetensors metadata; undefined when the file has none (e.g. a torchvision export). */
export function readModelDescription(metadata: Record<string, string>, source = ''): ModelDescription | undefined {
  const kind = metadata[MODEL_KIND_KEY];
  const names = metadata[CLASS_NAMES_KEY];
  if (kind === undefined && names === undefined) return undefined;
  const where = source || 'checkpoint';
  if (!CHECKPOINT_MODEL_KINDS.includes(kind as CheckpointModelKind)) {
    throw new Error(`${where}: metadata '${MODEL_KIND_KEY}' must be one of ${CHECKPOINT_MODEL_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
  }
  let classNames: unknown;
  try {
    classNames = JSON.parse(names ?? '');
  } catch {
    classNames = undefined;
  }
  if (!Array.isArray(classNames) || !classNames.every((c) => typeof c === 'string')) {
    throw new Error(`${where}: metadata '${CLASS_NAMES_KEY}' must be a JSON array of strings, got ${JSON.stringify(names)}`);
  }
  return { kind: kind as CheckpointModelKind, classNames };
}

/** The most bytes gathered into one readback buffer. */
const GATHER_BYTES = 64 * 1024 * 1024;

/**
 * Reads many tensors back with few submissions: consecutive tensors are copied into one
 * scratch buffer (up to GATHER_BYTES) that is read once, instead of one map per tensor.
 */
export async function readTensors(engine: Engine, tensors: readonly Tensor[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  let at = 0;
  while (at < tensors.length) {
    let end = at;
    let floats = 0;
    while (end < tensors.length && (end === at || (floats + tensors[end]!.size) * 4 <= GATHER_BYTES)) floats += tensors[end++]!.size;
    if (end === at + 1 || floats === 0) {
      out.push(floats === 0 ? new Float32Array(0) : await tensors[at]!.toArray());
    } else {
      const scratch = engine.empty([floats], 'checkpoint.gather');
      try {
        let offset = 0;
        for (let i = at; i < end; i++) {
          const t = tensors[i]!;
          if (t.size > 0) engine.copy(t, scratch, t.size * 4, 0, offset * 4);
          offset += t.size;
        }
        const all = new Float32Array(await engine.readBuffer(scratch, floats * 4));
        offset = 0;
        for (let i = at; i < end; i++) {
          out.push(all.slice(offset, offset + tensors[i]!.size));
          offset += tensors[i]!.size;
        }
      } finally {
        scratch.dispose();
      }
    }
    at = end;
  }
  return out;
}
