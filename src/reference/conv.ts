// Reference convolutions over HostTensor: direct sums over every window, written from the
// definition (PyTorch semantics: OIHW weights, padding with zeros, groups, dilation). A tap in
// the padding multiplies a zero, as PyTorch's does: that matters for a non-finite weight (0 * inf
// and 0 * NaN are NaN).
import type { HostTensor } from './host-tensor.js';

export interface ConvRefOptions {
  stride?: number | number[];
  padding?: number | number[] | 'same' | 'valid';
  dilation?: number | number[];
  groups?: number;
  relu?: boolean;
}

export function expand(v: number | number[] | undefined, n: number, fallback: number): number[] {
  if (v === undefined) return Array(n).fill(fallback);
  return typeof v === 'number' ? Array(n).fill(v) : [...v];
}

/** Padding before each spatial dim, and the output sizes. */
export function geometry(input: number[], kernel: number[], options: ConvRefOptions) {
  const n = input.length;
  const stride = expand(options.stride, n, 1);
  const dilation = expand(options.dilation, n, 1);
  const before: number[] = [];
  const output: number[] = [];
  for (let i = 0; i < n; i++) {
    const span = dilation[i]! * (kernel[i]! - 1) + 1;
    let lo: number;
    let hi: number;
    if (options.padding === 'same') {
      lo = Math.floor((span - 1) / 2);
      hi = span - 1 - lo;
    } else if (options.padding === 'valid') {
      lo = hi = 0;
    } else {
      lo = hi = expand(options.padding, n, 0)[i]!;
    }
    before.push(lo);
    output.push(Math.floor((input[i]! + lo + hi - span) / stride[i]!) + 1);
  }
  return { stride, dilation, before, output };
}

/** conv2d on x [N, C, H, W], weight [O, C/groups, KH, KW], bias [O]. */
export function conv2dRef(x: HostTensor, weight: HostTensor, bias?: HostTensor, options: ConvRefOptions = {}): HostTensor {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [O, Cg, KH, KW] = weight.shape as [number, number, number, number];
  const groups = options.groups ?? 1;
  const Og = O / groups;
  if (Cg * groups !== C) throw new Error('conv2dRef: channel mismatch');
  const { stride, dilation, before, output } = geometry([H, W], [KH, KW], options);
  const [OH, OW] = output as [number, number];
  const data = new Float64Array(N * O * OH * OW);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const g = Math.floor(o / Og);
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          let s = bias ? bias.data[o]! : 0;
          for (let c = 0; c < Cg; c++) {
            const ci = g * Cg + c;
            for (let kh = 0; kh < KH; kh++) {
              const ih = oh * stride[0]! - before[0]! + kh * dilation[0]!;
              const rowInside = ih >= 0 && ih < H;
              for (let kw = 0; kw < KW; kw++) {
                const iw = ow * stride[1]! - before[1]! + kw * dilation[1]!;
                const xv = rowInside && iw >= 0 && iw < W ? x.data[((n * C + ci) * H + ih) * W + iw]! : 0;
                s += xv * weight.data[((o * Cg + c) * KH + kh) * KW + kw]!;
              }
            }
          }
          data[((n * O + o) * OH + oh) * OW + ow] = options.relu ? Math.max(s, 0) : s;
        }
      }
    }
  }
  return { shape: [N, O, OH, OW], data };
}

/** conv1d on x [N, C, L], weight [O, C/groups, K]: conv2d over a height of 1. */
export function conv1dRef(x: HostTensor, weight: HostTensor, bias?: HostTensor, options: ConvRefOptions = {}): HostTensor {
  const [N, C, L] = x.shape as [number, number, number];
  const [O, Cg, K] = weight.shape as [number, number, number];
  const lift = (v: number | number[] | undefined, fill: number) => (v === undefined ? undefined : [fill, ...expand(v, 1, fill)]);
  const padding = typeof options.padding === 'string' ? options.padding : lift(options.padding, 0);
  const y = conv2dRef({ shape: [N, C, 1, L], data: x.data }, { shape: [O, Cg, 1, K], data: weight.data }, bias, {
    ...options,
    stride: lift(options.stride, 1),
    dilation: lift(options.dilation, 1),
    padding,
  });
  return { shape: [N, O, y.shape[3]!], data: y.data };
}

/** conv3d on x [N, C, D, H, W], weight [O, C/groups, KD, KH, KW], bias [O]. */
export function conv3dRef(x: HostTensor, weight: HostTensor, bias?: HostTensor, options: ConvRefOptions = {}): HostTensor {
  const [N, C, D, H, W] = x.shape as [number, number, number, number, number];
  const [O, Cg, KD, KH, KW] = weight.shape as [number, number, number, number, number];
  const groups = options.groups ?? 1;
  const Og = O / groups;
  if (Cg * groups !== C) throw new Error('conv3dRef: channel mismatch');
  const { stride, dilation, before, output } = geometry([D, H, W], [KD, KH, KW], options);
  const [OD, OH, OW] = output as [number, number, number];
  const data = new Float64Array(N * O * OD * OH * OW);
  let at = 0;
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const g = Math.floor(o / Og);
      for (let od = 0; od < OD; od++) {
        for (let oh = 0; oh < OH; oh++) {
          for (let ow = 0; ow < OW; ow++) {
            let s = bias ? bias.data[o]! : 0;
            for (let c = 0; c < Cg; c++) {
              for (let kd = 0; kd < KD; kd++) {
                const id = od * stride[0]! - before[0]! + kd * dilation[0]!;
                for (let kh = 0; kh < KH; kh++) {
                  const ih = oh * stride[1]! - before[1]! + kh * dilation[1]!;
                  const rowInside = id >= 0 && id < D && ih >= 0 && ih < H;
                  for (let kw = 0; kw < KW; kw++) {
                    const iw = ow * stride[2]! - before[2]! + kw * dilation[2]!;
                    const xv = rowInside && iw >= 0 && iw < W ? x.data[(((n * C + g * Cg + c) * D + id) * H + ih) * W + iw]! : 0;
                    s += xv * weight.data[(((o * Cg + c) * KD + kd) * KH + kh) * KW + kw]!;
                  }
                }
              }
            }
            data[at++] = options.relu ? Math.max(s, 0) : s;
          }
        }
      }
    }
  }
  return { shape: [N, O, OD, OH, OW], data };
}
