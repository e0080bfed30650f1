// Matrix products: sizes that don't divide the tiles, transposes, batches (equal, and one side
// shared), vectors, bias and the fused ReLU. k: the inner dimension; gradK: the longest sum
// behind a gradient value.
import type { OpCase } from './case.js';

export const cases: OpCase[] = [
  { op: 'linear', name: 'bias', inputs: { x: { shape: [4, 7] }, weight: { shape: [5, 7] }, bias: { shape: [5] } }, torch: 'F.linear(x, weight, bias)', k: 8 },
  { op: 'linear', name: 'no_bias_batched', inputs: { x: { shape: [2, 3, 10] }, weight: { shape: [6, 10] } }, torch: 'F.linear(x, weight)', k: 10, gradK: 10 },
  { op: 'linear', name: 'fused_relu', inputs: { x: { shape: [5, 9] }, weight: { shape: [3, 9] }, bias: { shape: [3] } }, options: { relu: true }, torch: 'F.relu(F.linear(x, weight, bias))', k: 10 },
  { op: 'linear', name: 'frozen_weight', inputs: { x: { shape: [3, 6] }, weight: { shape: [4, 6] }, bias: { shape: [4] } }, grad: ['x'], torch: 'F.linear(x, weight, bias)', k: 7 },
  { op: 'matmul', name: '5x7x6', inputs: { a: { shape: [5, 7] }, b: { shape: [7, 6] } }, torch: 'torch.matmul(a, b)', k: 7 },
  { op: 'matmul', name: 'transB_bias', inputs: { a: { shape: [4, 9] }, b: { shape: [5, 9] }, bias: { shape: [5] } }, options: { transB: true }, torch: 'torch.matmul(a, b.mT) + bias', k: 10 },
  { op: 'matmul', name: 'transA_relu', inputs: { a: { shape: [8, 3] }, b: { shape: [8, 5] } }, options: { transA: true, relu: true }, torch: 'F.relu(torch.matmul(a.mT, b))', k: 8 },
  {
    op: 'matmul',
    name: 'transA_transB_bias_relu',
    inputs: { a: { shape: [6, 4] }, b: { shape: [7, 6] }, bias: { shape: [7] } },
    options: { transA: true, transB: true, relu: true },
    torch: 'F.relu(torch.matmul(a.mT, b.mT) + bias)',
    k: 7,
  },
  { op: 'matmul', name: 'batched', inputs: { a: { shape: [3, 4, 5] }, b: { shape: [3, 5, 2] } }, torch: 'torch.matmul(a, b)', k: 5 },
  { op: 'matmul', name: 'shared_b', inputs: { a: { shape: [3, 4, 5] }, b: { shape: [5, 6] } }, torch: 'torch.matmul(a, b)', k: 5, gradK: 12 },
  { op: 'matmul', name: 'shared_a_transB', inputs: { a: { shape: [4, 5] }, b: { shape: [2, 3, 5] } }, options: { transB: true }, torch: 'torch.matmul(a, b.mT)', k: 5, gradK: 6 },
  { op: 'matmul', name: 'shared_b_transA', inputs: { a: { shape: [2, 5, 4] }, b: { shape: [5, 3] } }, options: { transA: true }, torch: 'torch.matmul(a.mT, b)', k: 5, gradK: 8 },
  { op: 'matmul', name: 'vector_matrix', inputs: { a: { shape: [6] }, b: { shape: [6, 4] } }, torch: 'torch.matmul(a, b)', k: 6 },
  { op: 'matmul', name: 'matrix_vector', inputs: { a: { shape: [3, 6] }, b: { shape: [6] } }, torch: 'torch.matmul(a, b)', k: 6 },
  // Larger than the smallest lowered binding limit (256 bytes): split by rows and output features,
  // by batch items and rows, and along the reduction (a transposed).
  { op: 'linear', name: 'many_rows_wide_weight', inputs: { x: { shape: [40, 9] }, weight: { shape: [30, 9] }, bias: { shape: [30] } }, torch: 'F.linear(x, weight, bias)', k: 10, gradK: 40 },
  { op: 'matmul', name: 'batched_many_rows', inputs: { a: { shape: [4, 10, 6] }, b: { shape: [4, 6, 7] } }, torch: 'torch.matmul(a, b)', k: 6, gradK: 10 },
  { op: 'matmul', name: 'transA_long_reduction', inputs: { a: { shape: [60, 5] }, b: { shape: [60, 4] } }, options: { transA: true }, torch: 'torch.matmul(a.mT, b)', k: 60 },
];
