// Reference matrix products over HostTensor, written from the definitions (float64 sums).
import type { HostTensor } from './host-tensor.js';

export interface MatmulRefOptions {
  transA?: boolean;
  transB?: boolean;
  bias?: HostTensor;
  relu?: boolean;
}

/** Element (r, c) of matrix `index` in a [..., rows, cols] tensor, read transposed when asked. */
function element(t: HostTensor, index: number, r: number, c: number, transposed: boolean): number {
  const rows = t.shape[t.shape.length - 2]!;
  const cols = t.shape[t.shape.length - 1]!;
  const [i, j] = transposed ? [c, r] : [r, c];
  return t.data[index * rows * cols + i * cols + j]!;
}

/**
 * torch.matmul(op(a), op(b)) with an optional bias [N] and ReLU. 1-D operands are vectors as in
 * torch; batch dims must be equal or present on one side only.
 */
export function matmulRef(a: HostTensor, b: HostTensor, options: MatmulRefOptions = {}): HostTensor {
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  const A: HostTensor = a.shape.length === 1 ? { shape: [1, a.shape[0]!], data: a.data } : a;
  const B: HostTensor = b.shape.length === 1 ? { shape: [b.shape[0]!, 1], data: b.data } : b;
  const batchA = A.shape.slice(0, -2);
  const batchB = B.shape.slice(0, -2);
  const batchDims = batchA.length > 0 ? batchA : batchB;
  if (batchA.length > 0 && batchB.length > 0 && batchA.join() !== batchB.join()) throw new Error('matmulRef: batch dims differ');
  const count = batchDims.reduce((x, y) => x * y, 1);
  const aRows = A.shape[A.shape.length - 2]!;
  const aCols = A.shape[A.shape.length - 1]!;
  const bRows = B.shape[B.shape.length - 2]!;
  const bCols = B.shape[B.shape.length - 1]!;
  const [M, K] = transA ? [aCols, aRows] : [aRows, aCols];
  const [K2, N] = transB ? [bCols, bRows] : [bRows, bCols];
  if (K !== K2) throw new Error(`matmulRef: inner dimensions differ (${K} vs ${K2})`);
  const data = new Float64Array(count * M * N);
  for (let t = 0; t < count; t++) {
    const ia = batchA.length > 0 ? t : 0;
    const ib = batchB.length > 0 ? t : 0;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = options.bias ? options.bias.data[n]! : 0;
        for (let k = 0; k < K; k++) s += element(A, ia, m, k, transA) * element(B, ib, k, n, transB);
        data[(t * M + m) * N + n] = options.relu ? Math.max(s, 0) : s;
      }
    }
  }
  const shape = [...batchDims, ...(a.shape.length === 1 ? [] : [M]), ...(b.shape.length === 1 ? [] : [N])];
  return { shape, data };
}

/** torch.nn.functional.linear: x [..., in], weight [out, in], bias [out]. */
export function linearRef(x: HostTensor, weight: HostTensor, bias?: HostTensor, options: { relu?: boolean } = {}): HostTensor {
  const [outF, inF] = weight.shape as [number, number];
  const rows = x.shape.slice(0, -1).reduce((p, d) => p * d, 1);
  const data = new Float64Array(rows * outF);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outF; o++) {
      let s = bias ? bias.data[o]! : 0;
      for (let i = 0; i < inF; i++) s += x.data[r * inF + i]! * weight.data[o * inF + i]!;
      data[r * outF + o] = options.relu ? Math.max(s, 0) : s;
    }
  }
  return { shape: [...x.shape.slice(0, -1), outF], data };
}
