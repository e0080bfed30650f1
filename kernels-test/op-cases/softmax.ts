// Softmax and log-softmax along every kind of dimension, short rows (one invocation per row) and
// long ones (a workgroup per row), large and tiny logits. k: the row length.
import type { OpCase } from './case.js';

const cases_: OpCase[] = [];
for (const [op, fn] of [['softmax', 'F.softmax'], ['logSoftmax', 'F.log_softmax']] as const) {
  cases_.push(
    { op, name: 'dim-1', inputs: { x: { shape: [4, 7], range: [-3, 3] } }, options: { dim: -1 }, torch: `${fn}(x, dim=-1)`, k: 7 },
    { op, name: 'dim1_nchw', inputs: { x: { shape: [2, 5, 3, 2], range: [-3, 3] } }, options: { dim: 1 }, torch: `${fn}(x, dim=1)`, k: 5 },
    { op, name: 'dim0', inputs: { x: { shape: [6, 4], range: [-3, 3] } }, options: { dim: 0 }, torch: `${fn}(x, dim=0)`, k: 6 },
    { op, name: 'long_rows', inputs: { x: { shape: [2, 300], range: [-4, 4] } }, options: { dim: -1 }, torch: `${fn}(x, dim=-1)`, k: 300 },
    { op, name: 'large_logits', inputs: { x: { shape: [3, 9], range: [-300, 300] } }, options: { dim: 1 }, torch: `${fn}(x, dim=1)`, k: 9 },
  );
}
export const cases = cases_;
