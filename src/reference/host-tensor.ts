// CPU tensors for the reference implementations (the oracle the GPU kernels are tested against).
// Plain row-major arrays; the references accumulate in float64 so their own rounding is negligible.
import { numel, shapeString, type Shape } from '../runtime/tensor.js';

export interface HostTensor {
  shape: number[];
  data: Float64Array;
}

export function host(data: ArrayLike<number>, shape: Shape): HostTensor {
  if (data.length !== numel(shape)) {
    throw new Error(`host tensor: shape ${shapeString(shape)} holds ${numel(shape)} values, got ${data.length}`);
  }
  return { shape: [...shape], data: Float64Array.from(data) };
}

export function hostZeros(shape: Shape): HostTensor {
  return { shape: [...shape], data: new Float64Array(numel(shape)) };
}
