// GPU tensors to and from safetensors bytes: a model's state dict (under its PyTorch names, so
// `safetensors.torch.load_file` + `load_state_dict` read it in PyTorch) and an optimiser's state
// (tensors under their state-dict keys, counters and hyperparameters as JSON in the metadata).
// Bytes only; writing them to disk (atomically) is the caller's business.
import type { Engine } from '../runtime/engine.js';
import type { Tensor } from '../runtime/tensor.js';
import { decodeSafetensors, encodeSafetensors, toFloat32, type SafeTensor, type SafetensorsContents } from './safetensors.js';

/** Metadata key holding an optimiser's numeric state as JSON. */
export const OPTIMIZER_NUMBERS_KEY = 'optimizer_numbers';

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
          if (t.size > 0) engine.copy(t.buffer, scratch.buffer, t.size * 4, 0, offset * 4);
          offset += t.size;
        }
        const all = new Float32Array(await engine.readBuffer(scratch.buffer, floats * 4));
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

/** Reads every tensor back from the GPU (readTensors) and serialises them as F32, with string metadata. */
export async function tensorsToSafetensors(tensors: Iterable<[string, Tensor]>, metadata: Record<string, string> = {}): Promise<Uint8Array> {
  const named = [...tensors];
  const data = named.length === 0 ? [] : await readTensors(named[0]![1].engine, named.map(([, t]) => t));
  return encodeSafetensors(
    named.map(([name, t], i) => [name, { dtype: 'F32', shape: [...t.shape], data: data[i]! } satisfies SafeTensor]),
    metadata,
  );
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
