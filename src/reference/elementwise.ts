// Elementwise ops and their gradients from the definitions, in float64.
import { hostZeros, type HostTensor } from './host-tensor.js';

function map(x: HostTensor, f: (v: number, i: number) => number): HostTensor {
  const out = hostZeros(x.shape);
  for (let i = 0; i < x.data.length; i++) out.data[i] = f(x.data[i]!, i);
  return out;
}

export function reluRef(x: HostTensor): HostTensor {
  return map(x, (v) => Math.max(v, 0));
}

/**
 * d relu(x) / dx applied to gradOut: 0 where x <= 0 (PyTorch takes 0 at x = 0), else the gradient,
 * which passes at NaN as PyTorch's threshold_backward lets it.
 */
export function reluBackwardRef(gradOut: HostTensor, x: HostTensor): HostTensor {
  return map(gradOut, (g, i) => (x.data[i]! <= 0 ? 0 : g));
}

export function mulRef(a: HostTensor, b: HostTensor): HostTensor {
  return map(a, (v, i) => v * b.data[i]!);
}

export function scaleRef(x: HostTensor, s: number): HostTensor {
  return map(x, (v) => v * s);
}

export function addRef(a: HostTensor, b: HostTensor): HostTensor {
  return map(a, (v, i) => v + b.data[i]!);
}
