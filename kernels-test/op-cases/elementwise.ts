import type { OpCase } from './case.js';

export const cases: OpCase[] = [
  { op: 'relu', name: 'odd_size', inputs: { x: { shape: [3, 37] } }, torch: 'F.relu(x)' },
  { op: 'relu', name: 'rank4', inputs: { x: { shape: [2, 3, 4, 5] } }, torch: 'F.relu(x)' },
  { op: 'add', name: 'same_shape', inputs: { a: { shape: [3, 101] }, b: { shape: [3, 101] } }, torch: 'a + b' },
  { op: 'add', name: 'fused_relu', inputs: { a: { shape: [2, 3, 5] }, b: { shape: [2, 3, 5] } }, options: { relu: true }, torch: 'F.relu(a + b)' },
  { op: 'add', name: 'only_b_requires_grad', inputs: { a: { shape: [7] }, b: { shape: [7] } }, grad: ['b'], torch: 'a + b' },
  { op: 'mul', name: 'same_shape', inputs: { a: { shape: [4, 9] }, b: { shape: [4, 9] } }, torch: 'a * b' },
  { op: 'mul', name: 'only_a_requires_grad', inputs: { a: { shape: [2, 3, 3] }, b: { shape: [2, 3, 3] } }, grad: ['a'], torch: 'a * b' },
  { op: 'scale', name: 'negative_factor', inputs: { x: { shape: [5, 6] } }, options: { factor: -2.5 }, torch: 'x * -2.5' },
  // Larger than the smallest lowered binding limit (256 bytes), so that the op is split there too.
  { op: 'mul', name: 'long', inputs: { a: { shape: [2, 150] }, b: { shape: [2, 150] } }, torch: 'a * b' },
  { op: 'scale', name: 'long', inputs: { x: { shape: [3, 70] } }, options: { factor: 0.5 }, torch: 'x * 0.5' },
];
