// Convolutions on awkward shapes: odd channels, stride 2 and 3, dilation, groups and depthwise,
// non-square kernels, 'same' and 'valid', 1x1, bias or none, batch 1 and > 1, every route
// (implicit GEMM, explicit im2col, Winograd F(2x2) and F(4x4), the 1x1 GEMM), the fused ReLU and
// residual. k: the terms summed per output (C/groups x kernel); gradK: the longest sum behind a
// gradient value (the weight's: batch x output positions).
import type { OpCase } from './case.js';

interface ConvSpec {
  op: 'conv1d' | 'conv2d' | 'conv3d';
  name: string;
  x: number[];
  weight: number[];
  bias?: boolean;
  /** The residual's shape (the output's), when the case has one. */
  residual?: number[];
  options?: Record<string, unknown>;
  /** torch keyword arguments. */
  torch?: string;
  relu?: boolean;
}

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

function conv(s: ConvSpec): OpCase {
  const k = prod(s.weight.slice(1)) + (s.bias ? 1 : 0) + (s.residual ? 1 : 0);
  // The weight's gradient sums over batch x output positions: at most twice the input's (padding).
  const batch = s.x.length === s.weight.length ? s.x[0]! : 1;
  const positions = 2 * batch * prod(s.x.slice(s.x.length - (s.weight.length - 2)));
  const call = `F.${s.op}(x, weight, ${s.bias ? 'bias' : 'None'}${s.torch ? `, ${s.torch}` : ''})`;
  const summed = s.residual ? `${call} + residual` : call;
  return {
    op: s.op,
    name: s.name,
    inputs: {
      x: { shape: s.x },
      weight: { shape: s.weight },
      ...(s.bias ? { bias: { shape: [s.weight[0]!] } } : {}),
      ...(s.residual ? { residual: { shape: s.residual } } : {}),
    },
    options: { ...s.options, ...(s.relu ? { relu: true } : {}) },
    torch: s.relu ? `F.relu(${summed})` : summed,
    k,
    gradK: Math.max(k, positions),
  };
}

export const cases: OpCase[] = [
  conv({ op: 'conv2d', name: 'bias_batch2', x: [2, 3, 7, 6], weight: [5, 3, 3, 3], bias: true }),
  conv({ op: 'conv2d', name: 'stride2_pad1', x: [1, 3, 9, 9], weight: [4, 3, 3, 3], bias: true, options: { stride: 2, padding: 1 }, torch: 'stride=2, padding=1' }),
  conv({ op: 'conv2d', name: 'dilation2_pad2', x: [1, 2, 9, 8], weight: [3, 2, 3, 3], options: { dilation: 2, padding: 2 }, torch: 'dilation=2, padding=2' }),
  conv({ op: 'conv2d', name: 'groups2_pad1', x: [1, 4, 6, 6], weight: [6, 2, 3, 3], bias: true, options: { groups: 2, padding: 1 }, torch: 'groups=2, padding=1' }),
  conv({ op: 'conv2d', name: 'depthwise_x2_stride2', x: [2, 3, 7, 7], weight: [6, 1, 3, 3], bias: true, options: { groups: 3, stride: 2 }, torch: 'groups=3, stride=2' }),
  conv({ op: 'conv2d', name: 'nonsquare_kernel_stride_pad', x: [1, 3, 8, 7], weight: [5, 3, 2, 4], bias: true, options: { stride: [2, 1], padding: [1, 2] }, torch: 'stride=(2, 1), padding=(1, 2)' }),
  conv({ op: 'conv2d', name: 'same_dilation2', x: [1, 3, 7, 6], weight: [4, 3, 3, 3], bias: true, options: { padding: 'same', dilation: 2 }, torch: "padding='same', dilation=2" }),
  conv({ op: 'conv2d', name: 'same_even_kernel', x: [1, 2, 6, 5], weight: [3, 2, 2, 4], options: { padding: 'same' }, torch: "padding='same'" }),
  conv({ op: 'conv2d', name: 'valid_relu', x: [1, 3, 6, 6], weight: [4, 3, 3, 3], bias: true, options: { padding: 'valid' }, torch: "padding='valid'", relu: true }),
  conv({ op: 'conv2d', name: 'pointwise_1x1', x: [2, 5, 4, 3], weight: [7, 5, 1, 1], bias: true }),
  conv({ op: 'conv2d', name: 'stride3_pad2', x: [1, 3, 8, 8], weight: [2, 3, 3, 3], options: { stride: 3, padding: 2 }, torch: 'stride=3, padding=2' }),
  conv({ op: 'conv2d', name: 'unbatched', x: [3, 5, 6], weight: [2, 3, 3, 3], bias: true, options: { padding: 1 }, torch: 'padding=1' }),
  conv({ op: 'conv2d', name: 'implicit_gemm', x: [2, 3, 9, 7], weight: [5, 3, 3, 3], bias: true, options: { padding: 1, algorithm: 'implicit' }, torch: 'padding=1' }),
  conv({ op: 'conv2d', name: 'im2col', x: [2, 3, 9, 7], weight: [5, 3, 3, 3], bias: true, options: { padding: 1, algorithm: 'im2col' }, torch: 'padding=1' }),
  conv({ op: 'conv2d', name: 'winograd2', x: [2, 4, 9, 7], weight: [5, 4, 3, 3], bias: true, options: { padding: 1, algorithm: 'winograd2' }, torch: 'padding=1' }),
  conv({ op: 'conv2d', name: 'winograd4_relu', x: [1, 4, 10, 11], weight: [3, 4, 3, 3], bias: true, options: { padding: 1, algorithm: 'winograd4' }, torch: 'padding=1', relu: true }),
  conv({ op: 'conv2d', name: 'residual_relu_pad1', x: [2, 3, 6, 5], weight: [4, 3, 3, 3], bias: true, residual: [2, 4, 6, 5], options: { padding: 1 }, torch: 'padding=1', relu: true }),
  conv({ op: 'conv2d', name: 'residual_winograd4', x: [1, 32, 12, 12], weight: [32, 32, 3, 3], residual: [1, 32, 12, 12], options: { padding: 1, algorithm: 'winograd4' }, torch: 'padding=1' }),
  conv({ op: 'conv1d', name: 'stride2_pad1_bias', x: [2, 3, 11], weight: [4, 3, 3], bias: true, options: { stride: 2, padding: 1 }, torch: 'stride=2, padding=1' }),
  conv({ op: 'conv1d', name: 'groups2_dilation2_same', x: [1, 4, 10], weight: [6, 2, 3], options: { groups: 2, dilation: 2, padding: 'same' }, torch: "groups=2, dilation=2, padding='same'" }),
  // Larger than the lowered binding limits (256 bytes up), so that it is split there too.
  conv({ op: 'conv1d', name: 'batch8_stride2_pad2_bias', x: [8, 4, 40], weight: [6, 4, 5], bias: true, options: { stride: 2, padding: 2 }, torch: 'stride=2, padding=2' }),
  conv({ op: 'conv3d', name: 'pad1_bias', x: [1, 2, 4, 5, 4], weight: [3, 2, 3, 3, 3], bias: true, options: { padding: 1 }, torch: 'padding=1' }),
  conv({ op: 'conv3d', name: 'stride_nonsquare', x: [2, 3, 5, 6, 5], weight: [2, 3, 2, 3, 3], options: { stride: [1, 2, 2] }, torch: 'stride=(1, 2, 2)' }),
];
