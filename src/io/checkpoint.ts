// GPU tensors to and from safetensors bytes: a model's state dict (under its PyTorch names, so
// `safetensors.torch.load_file` + `load_state_dict` read it in PyTorch) and an optimiser's state
// (tensors under their state-dict keys, counters and hyperparameters as JSON in the metadata).
// Bytes only; writing them to disk (atomically) is the caller's business.
import type { Engine } from '../runtime/engine.js';
import type { Tensor } from '../runtime/tensor.js';
import { decodeSafetensors, encodeSafetensors, toFloat32, type SafeTensor, type SafetensorsContents } from './safetensors.js';

/** Metadata key holding an optimiser's numeric state as JSON. */
export const OPTIMIZER_NUMBERS_KEY = 'optimizer_numbers';

/** Reads every tensor back from the GPU and serialises them as F32, with string metadata. */
export async function tensorsToSafetensors(tensors: Iterable<[string, Tensor]>, metadata: Record<string, string> = {}): Promise<Uint8Array> {
  const entries: Array<[string, SafeTensor]> = [];
  for (const [name, t] of tensors) entries.push([name, { dtype: 'F32', shape: [...t.shape], data: await t.toArray() }]);
  return encodeSafetensors(entries, metadata);
}

/** Uploads every tensor of a file as float32 (other dtypes are converted, e.g. PyTorch's I64 num_batches_tracked). */
export function tensorsFromSafetensors(engine: Engine, contents: SafetensorsContents): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, t] of contents.tensors) out.set(name, engine.tensor(toFloat32(t), t.shape));
  return out;
}

/** An optimiser's stateDict(): tensors as F32 entries, numbers as JSON metadata. */
export async function optimizerStateToSafetensors(
  state: Record<string, Tensor | number>,
  metadata: Record<string, string> = {},
): Promise<Uint8Array> {
  const numbers: Record<string, number> = {};
  const tensors: Array<[string, Tensor]> = [];
  for (const [key, v] of Object.entries(state)) {
    if (typeof v === 'number') numbers[key] = v;
    else tensors.push([key, v]);
  }
  return tensorsToSafetensors(tensors, { ...metadata, [OPTIMIZER_NUMBERS_KEY]: JSON.stringify(numbers) });
}

/** The inverse of optimizerStateToSafetensors: a state for Optimizer.loadStateDict (the caller owns the tensors). */
export function optimizerStateFromSafetensors(engine: Engine, bytes: Uint8Array, source = ''): Record<string, Tensor | number> {
  const contents = decodeSafetensors(bytes, source);
  const json = contents.metadata[OPTIMIZER_NUMBERS_KEY];
  if (json === undefined) throw new Error(`${source || 'optimizer state'}: no '${OPTIMIZER_NUMBERS_KEY}' in the safetensors metadata (not an optimizer state file?)`);
  let numbers: unknown;
  try {
    numbers = JSON.parse(json);
  } catch (err) {
    throw new Error(`${source || 'optimizer state'}: '${OPTIMIZER_NUMBERS_KEY}' is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof numbers !== 'object' || numbers === null || Object.values(numbers).some((v) => typeof v !== 'number')) {
    throw new Error(`${source || 'optimizer state'}: '${OPTIMIZER_NUMBERS_KEY}' must be an object of numbers`);
  }
  const state: Record<string, Tensor | number> = { ...(numbers as Record<string, number>) };
  for (const [name, t] of tensorsFromSafetensors(engine, contents)) state[name] = t;
  return state;
}
