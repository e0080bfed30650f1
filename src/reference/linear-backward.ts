// Reference backward passes of linear and matmul over HostTensor, from the definitions, float64.
import { hostZeros, type HostTensor } from './host-tensor.js';

export interface LinearGradientsRef {
  gradInput: HostTensor;
  gradWeight: HostTensor;
  gradBias: HostTensor;
}

/**
 * The gradients of y = x weight^T + bias (x [..., in], weight [out, in]) for gradOut [..., out]:
 * dx[r, i] = sum_o g[r, o] w[o, i], dw[o, i] = sum_r g[r, o] x[r, i], db[o] = sum_r g[r, o].
 */
export function linearBackwardRef(gradOut: HostTensor, x: HostTensor, weight: HostTensor): LinearGradientsRef {
  const [outF, inF] = weight.shape as [number, number];
  const rows = x.shape.slice(0, -1).reduce((p, d) => p * d, 1);
  if (gradOut.data.length !== rows * outF) throw new Error('linearBackwardRef: gradOut does not match x and weight');
  const gradInput = hostZeros(x.shape);
  const gradWeight = hostZeros(weight.shape);
  const gradBias = hostZeros([outF]);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outF; o++) {
      const g = gradOut.data[r * outF + o]!;
      gradBias.data[o]! += g;
      for (let i = 0; i < inF; i++) {
        gradInput.data[r * inF + i]! += g * weight.data[o * inF + i]!;
        gradWeight.data[o * inF + i]! += g * x.data[r * inF + i]!;
      }
    }
  }
  return { gradInput, gradWeight, gradBias };
}

export interface MatmulGradientsRef {
  gradA: HostTensor;
  gradB: HostTensor;
}

/**
 * The gradients of y = a b (a [..., M, K], b [..., K, N]; equal batch dims, or one side a plain
 * matrix shared by every batch item, whose gradient then sums over the batch) for gradOut [..., M, N].
 */
export function matmulBackwardRef(gradOut: HostTensor, a: HostTensor, b: HostTensor): MatmulGradientsRef {
  const [M, K] = a.shape.slice(-2) as [number, number];
  const N = b.shape[b.shape.length - 1]!;
  const batchA = a.shape.slice(0, -2).reduce((p, d) => p * d, 1);
  const batchB = b.shape.slice(0, -2).reduce((p, d) => p * d, 1);
  const batch = Math.max(batchA, batchB);
  if (gradOut.data.length !== batch * M * N) throw new Error('matmulBackwardRef: gradOut does not match a and b');
  const gradA = hostZeros(a.shape);
  const gradB = hostZeros(b.shape);
  for (let t = 0; t < batch; t++) {
    const ia = batchA === 1 ? 0 : t;
    const ib = batchB === 1 ? 0 : t;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        const g = gradOut.data[(t * M + m) * N + n]!;
        for (let k = 0; k < K; k++) {
          gradA.data[(ia * M + m) * K + k]! += g * b.data[(ib * K + k) * N + n]!;
          gradB.data[(ib * K + k) * N + n]! += g * a.data[(ia * M + m) * K + k]!;
        }
      }
    }
  }
  return { gradA, gradB };
}
