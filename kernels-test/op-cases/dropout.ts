// Dropout's mask comes from our Philox stream, so PyTorch multiplies by the mask our reference
// draws (an input only the torch expression reads): x * mask is F.dropout's definition.
import { dropoutMaskRef } from '../../src/reference/dropout.js';
import type { OpCase } from './case.js';

function dropout(name: string, shape: number[], options: { p: number; seed: number; offset?: number; training?: boolean }): OpCase {
  return {
    op: 'dropout',
    name,
    inputs: { x: { shape } },
    torchInputs: { mask: { shape, values: () => dropoutMaskRef(shape, options).data } },
    options,
    torch: 'x * mask',
  };
}

export const cases: OpCase[] = [
  dropout('p0.5', [4, 33], { p: 0.5, seed: 7 }),
  dropout('p0.25_offset3', [2, 3, 5, 5], { p: 0.25, seed: 123456789, offset: 3 }),
  dropout('eval_identity', [3, 7], { p: 0.5, seed: 1, training: false }),
];
