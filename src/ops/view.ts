// Ops that only reshape: their output is a view of the input's buffer (no kernel, no copy), and
// so is their gradient.
import { flattenShape, type Tensor } from '../runtime/tensor.js';
import { defineOp, type Checked } from './registry.js';

export interface FlattenOptions {
  /** First dimension merged (default 0). */
  startDim?: number;
  /** Last dimension merged (default -1). */
  endDim?: number;
}

export const flattenOp = defineOp<FlattenOptions, Checked>({
  name: 'flatten',
  operands: [{ name: 'x' }],
  check: ([x], { startDim = 0, endDim = -1 }) => ({ shape: flattenShape(x!, startDim, endDim) }),
  forward: ([x], { shape }) => x!.reshape(shape),
  backward: ({ gradOut, inputs: [x] }) => [gradOut.reshape(x!.shape)],
  reference: ([x], { startDim = 0, endDim = -1 }) => ({ shape: flattenShape(x!.shape, startDim, endDim), data: x!.data }),
});

/** torch.flatten(x, startDim, endDim): a view merging dimensions startDim..endDim. */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  return flattenOp.run([x], { startDim, endDim });
}
