// Dropout from its definition, drawing from the reference Philox4x32-10 with the engine's
// documented stream layout (see src/ops/dropout.ts): element i takes word i % 4 of the block
// philox(counter = [floor(i / 4), 0, offset low, offset high], key = [seed low, seed high]);
// u = (word >> 8) * 2^-24 is uniform in [0, 1) and the element is dropped when u < p.
import { hostZeros, type HostTensor } from './host-tensor.js';
import { philox4x32 } from './philox.js';

export interface DropoutRefOptions {
  p?: number;
  training?: boolean;
  seed: number;
  offset?: number;
}

const low = (v: number) => v % 2 ** 32;
const high = (v: number) => Math.floor(v / 2 ** 32);

/** Whether element `index` survives dropout (always, when not training). */
export function keepsElement(index: number, options: DropoutRefOptions): boolean {
  const { p = 0.5, training = true, seed, offset = 0 } = options;
  if (!training) return true;
  const words = philox4x32([Math.floor(index / 4), 0, low(offset), high(offset)], [low(seed), high(seed)]);
  const u = (words[index % 4]! >>> 8) * 2 ** -24;
  return !(u < p);
}

/** The keep mask: 1 / (1 - p) where an element is kept, 0 where it is dropped (1 when not training). */
export function dropoutMaskRef(shape: readonly number[], options: DropoutRefOptions): HostTensor {
  const { p = 0.5, training = true } = options;
  const mask = hostZeros(shape);
  const scale = training ? 1 / (1 - p) : 1;
  for (let i = 0; i < mask.data.length; i++) mask.data[i] = keepsElement(i, options) ? scale : 0;
  return mask;
}

/** Inverted dropout, x * mask: kept values scaled by 1 / (1 - p), dropped ones 0 (NaN for NaN or inf, as in PyTorch); also returns the mask. */
export function dropoutRef(x: HostTensor, options: DropoutRefOptions): { output: HostTensor; mask: HostTensor } {
  const mask = dropoutMaskRef(x.shape, options);
  const output = hostZeros(x.shape);
  for (let i = 0; i < x.data.length; i++) output.data[i] = x.data[i]! * mask.data[i]!;
  return { output, mask };
}

/** The gradient of dropout: gradOut * mask (mask as dropoutMaskRef gives it). */
export function dropoutBackwardRef(gradOut: HostTensor, mask: HostTensor): HostTensor {
  const grad = hostZeros(gradOut.shape);
  for (let i = 0; i < grad.data.length; i++) grad.data[i] = gradOut.data[i]! * mask.data[i]!;
  return grad;
}
