// The weight gradient of a stride-1 convolution as shifted GEMMs, without an im2col buffer.
// With x zero-padded to the volume Dp x Hp x Wp that the windows cover (Dp = outD + dil*(kD - 1),
// ...) and stored channels last, tap (kd, kh, kw) reads, for output position r = (od*Hp + oh)*Wp
// + ow, the padded row r + shift (shift = (kd*dilD*Hp + kh*dilH)*Wp + kw*dilW): the same matrix
// moved by whole rows. So
//   gradW[:, :, kd, kh, kw] (per group [O/G, C/G]) = gradOut_g [O/G, positions] x xpad_g [positions + shift, C/G]
// with gradOut laid out on the padded grid (zeros off the real outputs, so the extra positions
// add nothing) and the batch folded into the reduction. One GEMM call per (kd, kh), its problems
// the kW taps (B offset by dilW rows each) times the groups. The copies are about the size of x and
// gradOut, where im2col writes kernel-volume times x; the GEMMs do padded/real positions times the
// FLOPs (1.07 for a 'same' 3x3 at 56x56), so it is the route for 'same'-like padding. The padded
// grid, chunks of images and tiles are the plan's (conv-plan.ts, planShifted).
import type { Engine } from '../runtime/engine.js';
import { grid1d } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import type { Tensor } from '../runtime/tensor.js';
import { params } from '../runtime/uniforms.js';
import type { ConvProblem } from './conv-args.js';
import { writeColumns, type Window } from './conv-backward-columns.js';
import type { WeightGradientPlan } from './conv-plan.js';
import { addInPlace } from './elementwise.js';
import { gemm } from './gemm.js';
import { transposeInto } from './transpose-axes.js';

const WG = 64;
const NHWC: KernelSpec = { name: 'convBackward.nhwc', shader: 'conv_backward_nhwc', defines: { WG }, bindings: ['uniform', 'read', 'write'] };

type Triple = [number, number, number];
const product = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

type ShiftedPlan = Extract<WeightGradientPlan, { route: 'shifted' }>;

/** x [images] from `image0` of the bound source, padded and channels last: [images + 1][rowLength][C]. */
function paddedChannelsLast(engine: Engine, p: ConvProblem, l: ShiftedPlan, src: Tensor, image0: number, images: number): Tensor {
  const C = p.inChannels;
  const rowsPerImage = Math.ceil(l.rowLength / l.padded[2]);
  const out = engine.empty([(images + 1) * l.rowLength * C]);
  const total = (images + 1) * rowsPerImage * C;
  const u = params().u32(total, C, rowsPerImage, l.rowLength, images, image0, ...p.input, ...l.padded, ...p.padBefore);
  engine.dispatch(NHWC, [src, out], grid1d(total, WG, engine.limits.maxComputeWorkgroupsPerDimension), u);
  return out;
}

/**
 * The weight gradient through shifted GEMMs as `l` (the plan's) says, into `gradWeight`
 * ([O, C/G, k...]); x and gradOut batched, each within a binding.
 */
export function shiftedWeightGradient(p: ConvProblem, l: ShiftedPlan, gradOut: Tensor, x: Tensor, gradWeight: Tensor): void {
  const engine = x.engine;
  const G = p.groups;
  const [O, C] = [p.outChannels, p.inChannels];
  const [Og, Cg] = [O / G, C / G];
  const [Dp, Hp, Wp] = l.padded;
  const [kD, kH, kW] = p.kernel;
  const [dD, dH, dW] = p.dilation;
  const one: Triple = [1, 1, 1];
  // gradOut on the padded grid: the 1 x 1 x 1 window of the im2col kernel reads zeros off the output.
  const gradOutWindow: Window = { channels: O, channelsPerGroup: Og, kRows: Og, input: p.output, kernel: one, stride: one, dilation: one, pad: [0, 0, 0] };
  // Sums per tap, [kD][kH][kW][O][Cg], transposed to the weight's [O][Cg][kD][kH][kW] at the end.
  let taps: Tensor | undefined;
  for (const { image0, images, gemm: tile } of l.chunks) {
    const xPadded = paddedChannelsLast(engine, p, l, x, image0, images);
    const grid = { outH: Hp, outW: Wp, outRow0: 0, outRows: Dp * Hp, images, layoutImages: images, srcImage0: image0, rowLength: l.rowLength };
    const gPadded = writeColumns(engine, G, gradOutWindow, gradOut, grid);
    const K = images * l.rowLength;
    const part = engine.empty([product(p.kernel) * O * Cg]);
    for (let kd = 0; kd < kD; kd++) {
      for (let kh = 0; kh < kH; kh++) {
        gemm(engine, {
          name: p.op,
          a: gPadded,
          b: xPadded,
          out: part,
          M: Og,
          N: Cg,
          K,
          lda: K,
          ldb: C,
          ldc: Cg,
          batch: kW,
          groups: G,
          strides: { a: [0, Og * K], b: [dW * C, Cg], c: [O * Cg, Og * Cg] },
          offsets: { b: (kd * dD * Hp + kh * dH) * Wp * C, c: (kd * kH + kh) * kW * O * Cg },
          tile,
        });
      }
    }
    xPadded.dispose();
    gPadded.dispose();
    if (taps) {
      addInPlace(taps, part);
      part.dispose();
    } else {
      taps = part;
    }
  }
  transposeInto(engine, taps!, { groups: 1, a: product(p.kernel), b: O * Cg, l: 1 }, gradWeight);
  taps!.dispose();
}
