// Softmax and log-softmax along one dimension, from the definition, in float64.
import { hostZeros, type HostTensor } from './host-tensor.js';

function checkedDim(dim: number, rank: number): number {
  const r = Math.max(rank, 1);
  if (!Number.isInteger(dim) || dim < -r || dim >= r) throw new Error(`softmaxRef: dim ${dim} out of range for rank ${rank}`);
  return dim < 0 ? dim + r : dim;
}

/**
 * Calls `visit(indices)` once per line along `dim` with the flat indices of its elements: the
 * tensor is seen as [outer, len, inner] (the dimensions before `dim`, `dim`, those after).
 */
function forEachLine(shape: number[], dim: number, visit: (indices: number[]) => void): void {
  const product = (ds: number[]) => ds.reduce((a, b) => a * b, 1);
  const outer = product(shape.slice(0, dim));
  const len = shape.length === 0 ? 1 : shape[dim]!;
  const inner = product(shape.slice(dim + 1));
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const line: number[] = [];
      for (let k = 0; k < len; k++) line.push((o * len + k) * inner + i);
      visit(line);
    }
  }
}

function lineStats(x: Float64Array, line: number[]): { max: number; sum: number } {
  let max = -Infinity;
  for (const i of line) max = Math.max(max, x[i]!);
  let sum = 0;
  for (const i of line) sum += Math.exp(x[i]! - max); // an all -inf line: -inf - -inf = NaN
  return { max, sum };
}

export function softmaxRef(x: HostTensor, dim: number): HostTensor {
  const out = hostZeros(x.shape);
  forEachLine(x.shape, checkedDim(dim, x.shape.length), (line) => {
    const { max, sum } = lineStats(x.data, line);
    for (const i of line) out.data[i] = Math.exp(x.data[i]! - max) / sum;
  });
  return out;
}

export function logSoftmaxRef(x: HostTensor, dim: number): HostTensor {
  const out = hostZeros(x.shape);
  forEachLine(x.shape, checkedDim(dim, x.shape.length), (line) => {
    const { max, sum } = lineStats(x.data, line);
    for (const i of line) out.data[i] = x.data[i]! - max - Math.log(sum);
  });
  return out;
}

/**
 * The gradient of softmax along `dim` from its output y, through the Jacobian
 * d y_j / d x_i = y_j * ([i == j] - y_i):  grad_x_i = sum_j gradOut_j * y_j * ([i == j] - y_i).
 */
export function softmaxBackwardRef(gradOut: HostTensor, y: HostTensor, dim: number): HostTensor {
  const grad = hostZeros(y.shape);
  forEachLine(y.shape, checkedDim(dim, y.shape.length), (line) => {
    for (const i of line) {
      let sum = 0;
      for (const j of line) sum += gradOut.data[j]! * y.data[j]! * ((i === j ? 1 : 0) - y.data[i]!);
      grad.data[i] = sum;
    }
  });
  return grad;
}

/**
 * The gradient of log-softmax along `dim` from its output y, through the Jacobian
 * d y_j / d x_i = [i == j] - softmax_i, with softmax_i = exp(y_i).
 */
export function logSoftmaxBackwardRef(gradOut: HostTensor, y: HostTensor, dim: number): HostTensor {
  const grad = hostZeros(y.shape);
  forEachLine(y.shape, checkedDim(dim, y.shape.length), (line) => {
    for (const i of line) {
      let sum = 0;
      for (const j of line) sum += gradOut.data[j]! * ((i === j ? 1 : 0) - Math.exp(y.data[i]!));
      grad.data[i] = sum;
    }
  });
  return grad;
}
