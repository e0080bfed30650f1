// Reference convolution backward passes over HostTensor, from the definition: run the forward
// sum y[n, o, od, oh, ow] = b[o] + sum over (c, kd, kh, kw) of x[n, g*Cg + c, id, ih, iw] * w[o, c,
// kd, kh, kw] (i = o*stride - pad + k*dilation, inside the input) and, for every product, add
// gradOut * (the other factor) to the factor's gradient. float64 throughout.
import { expand, geometry, type ConvRefOptions } from './conv.js';
import { hostZeros, type HostTensor } from './host-tensor.js';

export interface ConvGradientsRef {
  gradInput: HostTensor;
  gradWeight: HostTensor;
  gradBias: HostTensor;
}

/** The gradients of conv3d (x [N, C, D, H, W], weight [O, C/groups, KD, KH, KW]) for gradOut [N, O, OD, OH, OW]. */
export function conv3dBackwardRef(gradOut: HostTensor, x: HostTensor, weight: HostTensor, options: ConvRefOptions = {}): ConvGradientsRef {
  if (options.relu) throw new Error('conv3dBackwardRef: relu is not part of the convolution being differentiated');
  const [N, C, D, H, W] = x.shape as [number, number, number, number, number];
  const [O, Cg, KD, KH, KW] = weight.shape as [number, number, number, number, number];
  const groups = options.groups ?? 1;
  const Og = O / groups;
  if (Cg * groups !== C) throw new Error('conv3dBackwardRef: channel mismatch');
  const { stride, dilation, before, output } = geometry([D, H, W], [KD, KH, KW], options);
  const [OD, OH, OW] = output as [number, number, number];
  const expected = [N, O, OD, OH, OW];
  if (gradOut.shape.join() !== expected.join()) {
    throw new Error(`conv3dBackwardRef: gradOut [${gradOut.shape.join(', ')}] should be [${expected.join(', ')}]`);
  }
  const gradInput = hostZeros(x.shape);
  const gradWeight = hostZeros(weight.shape);
  const gradBias = hostZeros([O]);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const g = Math.floor(o / Og);
      for (let od = 0; od < OD; od++) {
        for (let oh = 0; oh < OH; oh++) {
          for (let ow = 0; ow < OW; ow++) {
            const go = gradOut.data[(((n * O + o) * OD + od) * OH + oh) * OW + ow]!;
            gradBias.data[o]! += go;
            for (let c = 0; c < Cg; c++) {
              for (let kd = 0; kd < KD; kd++) {
                const id = od * stride[0]! - before[0]! + kd * dilation[0]!;
                if (id < 0 || id >= D) continue;
                for (let kh = 0; kh < KH; kh++) {
                  const ih = oh * stride[1]! - before[1]! + kh * dilation[1]!;
                  if (ih < 0 || ih >= H) continue;
                  for (let kw = 0; kw < KW; kw++) {
                    const iw = ow * stride[2]! - before[2]! + kw * dilation[2]!;
                    if (iw < 0 || iw >= W) continue;
                    const xi = (((n * C + g * Cg + c) * D + id) * H + ih) * W + iw;
                    const wi = (((o * Cg + c) * KD + kd) * KH + kh) * KW + kw;
                    gradInput.data[xi]! += go * weight.data[wi]!;
                    gradWeight.data[wi]! += go * x.data[xi]!;
                  }
                }
              }
            }
          }
        }
      }
    }
  }
  return { gradInput, gradWeight, gradBias };
}

/** Inserts unit axes at `at` of a tensor's shape (same data). */
function lift(t: HostTensor, at: number, count: number): HostTensor {
  return { shape: [...t.shape.slice(0, at), ...Array(count).fill(1), ...t.shape.slice(at)], data: t.data };
}

/** An option given for fewer axes, as the 3-D one: the leading axes get `fill`. */
function liftOption(v: number | number[] | undefined, count: number, dims: number, fill: number): number | number[] | undefined {
  if (v === undefined) return undefined;
  return [...Array(count).fill(fill), ...expand(v, dims, fill)];
}

function liftOptions(options: ConvRefOptions, count: number, dims: number): ConvRefOptions {
  return {
    ...options,
    stride: liftOption(options.stride, count, dims, 1),
    dilation: liftOption(options.dilation, count, dims, 1),
    padding: typeof options.padding === 'string' ? options.padding : liftOption(options.padding, count, dims, 0),
  };
}

/** Drops the unit axes `lift` inserted from the input gradient and the weight gradient. */
function lower(r: ConvGradientsRef, x: HostTensor, weight: HostTensor): ConvGradientsRef {
  return {
    gradInput: { shape: [...x.shape], data: r.gradInput.data },
    gradWeight: { shape: [...weight.shape], data: r.gradWeight.data },
    gradBias: r.gradBias,
  };
}

/** The gradients of conv2d (x [N, C, H, W], weight [O, C/groups, KH, KW]): conv3d with a depth of 1. */
export function conv2dBackwardRef(gradOut: HostTensor, x: HostTensor, weight: HostTensor, options: ConvRefOptions = {}): ConvGradientsRef {
  const r = conv3dBackwardRef(lift(gradOut, 2, 1), lift(x, 2, 1), lift(weight, 2, 1), liftOptions(options, 1, 2));
  return lower(r, x, weight);
}

/** The gradients of conv1d (x [N, C, L], weight [O, C/groups, K]): conv3d with a depth and height of 1. */
export function conv1dBackwardRef(gradOut: HostTensor, x: HostTensor, weight: HostTensor, options: ConvRefOptions = {}): ConvGradientsRef {
  const r = conv3dBackwardRef(lift(gradOut, 2, 2), lift(x, 2, 2), lift(weight, 2, 2), liftOptions(options, 2, 1));
  return lower(r, x, weight);
}
