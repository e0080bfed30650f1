import type { OpCase } from './case.js';

export const cases: OpCase[] = [
  { op: 'flatten', name: 'from_dim1', inputs: { x: { shape: [2, 3, 4, 5] } }, options: { startDim: 1, endDim: -1 }, torch: 'torch.flatten(x, 1, -1)' },
  { op: 'flatten', name: 'middle_dims', inputs: { x: { shape: [2, 3, 4, 5] } }, options: { startDim: 1, endDim: 2 }, torch: 'torch.flatten(x, 1, 2)' },
];
