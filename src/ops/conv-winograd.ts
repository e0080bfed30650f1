// Winograd convolution F(m x m, 3 x 3), m = 2 or 4, for 3x3, stride 1, undilated, ungrouped
// 2-D convolutions: each m x m output tile comes from an a x a input patch (a = m + 2) with a^2
// multiplies per channel pair instead of 9 m^2 (2.25x fewer for m = 2, 4x for m = 4).
// Three steps around the GEMM core:
//   weights  U[xi] = G g G^T             a^2 matrices [O, Cp]
//   input    V[xi] = B^T d B per tile     a^2 matrices [Cp, Np] (the tiles of every image)
//   product  M[xi] = U[xi] x V[xi]        one batched GEMM (a^2 problems)
//   output   y = A^T M A per tile, + bias, + residual, ReLU, stored into NCHW (a tile whose
//            values are not all finite is recomputed directly: see winograd_output.wgsl)
// Cp and Np are C and the tile count rounded up to multiples of 4 (zeros in the padding), so
// the GEMM reads every operand as vec4.
//
// Why it pays on lavapipe: every element a kernel loads or stores there costs a scalar step per
// SIMD lane (with a bounds check), so time follows the elements moved more than the FLOPs. The
// product's operands are smaller than the im2col matrix (a^2/m^2 values per output and channel
// instead of 9) and its K is C instead of 9C. ResNet18's 64 channels at 56x56 took ~34 ms of CPU
// by im2col, ~25 by F(2x2), ~14 by F(4x4) on the 2-core test machine. The weights are
// transformed on every call (a tensor's contents may change between calls), which is why `auto`
// wants enough tiles to spread that over (see the device profiles).
//
// Interpolation points: 0, 1, -1 (and infinity) for m = 2; for m = 4, 0, 1, -1, 2, -1/2 instead
// of the usual 0, +-1, +-2, whose float32 error reached 0.6-1.2x the conv tests' tolerance
// (uniform [-1, 1) data, 64 to 512 channels) against 0.25-0.5x for these points and ~0.05x for
// m = 2; on ReLU activations with He-scaled weights, under 0.06x and 0.01x (simulated in float32
// over thousands of tiles; the shaders hold the matrices).
import { grid1d, type Engine } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import type { Tensor } from '../runtime/tensor.js';
import { params } from '../runtime/uniforms.js';
import type { ConvProblem } from './conv-args.js';
import { winogradTiles, type ForwardPlan, type WinogradTile } from './conv-plan.js';
import { gemm } from './gemm.js';
import { epilogueBits } from './gemm-tile.js';

const WG = 64;
const roundUp4 = (n: number) => Math.ceil(n / 4) * 4;

function kernel(op: string, tile: WinogradTile, shader: string, bindings: KernelSpec['bindings']): KernelSpec {
  return { name: `${op}.winograd${tile}x${tile}`, shader, defines: { WG, TILE: tile }, bindings };
}

/**
 * Records the convolution `p` over `batch` images of `x` into `out` (both within a binding),
 * by Winograd F(tile x tile, 3x3) as `plan` says (a Winograd route of planForward's for `p`): in
 * chunks of plan.winogradImages images, whose transformed operands fit a binding.
 */
export function runWinograd(
  engine: Engine,
  p: ConvProblem,
  plan: Extract<ForwardPlan, { route: 'winograd2' | 'winograd4' }>,
  x: Tensor,
  weight: Tensor,
  bias: Tensor | undefined,
  out: Tensor,
  batch: number,
  residual: Tensor | undefined,
): void {
  const tile: WinogradTile = plan.route === 'winograd2' ? 2 : 4;
  const O = p.outChannels;
  const C = p.inChannels;
  const Cp = roundUp4(C);
  const { tilesW, perImage, points } = winogradTiles(p, tile);
  const images = plan.winogradImages;
  const max = engine.limits.maxComputeWorkgroupsPerDimension;

  const u = engine.empty([points, O, Cp]);
  engine.dispatch(kernel(p.op, tile, 'winograd_weights', ['uniform', 'read', 'write']), [weight, u], grid1d(O * Cp, WG, max), params().u32(O * Cp, C, Cp));

  const [, inH, inW] = p.input;
  const [, outH, outW] = p.output;
  const epilogue = epilogueBits({ bias: bias === undefined ? 0 : 2, residual: residual !== undefined, relu: p.relu });
  for (let n0 = 0; n0 < batch; n0 += images) {
    const N = Math.min(images, batch - n0) * perImage;
    const Np = roundUp4(N);
    const v = engine.empty([points, Cp, Np]);
    engine.dispatch(
      kernel(p.op, tile, 'winograd_input', ['uniform', 'read', 'write']),
      [x, v],
      grid1d(Cp * Np, WG, max),
      params().u32(Cp * Np, C, N, Np, perImage, tilesW, inH, inW, p.padBefore[1], p.padBefore[2], n0),
    );
    const m = engine.empty([points, O, Np]);
    gemm(engine, {
      name: p.op,
      a: u,
      b: v,
      out: m,
      M: O,
      N,
      K: Cp,
      ldb: Np,
      ldc: Np,
      batch: points,
      tile: plan.gemm,
      strides: { a: [O * Cp, 0], b: [Cp * Np, 0], c: [O * Np, 0] },
    });
    v.dispose();
    engine.dispatch(
      kernel(p.op, tile, 'winograd_output', ['uniform', 'read', 'read', 'read', 'read', 'read', 'write']),
      [m, bias ?? m, residual ?? m, x, weight, out],
      grid1d(O * N, WG, max),
      params().u32(O * N, O, N, Np, perImage, tilesW, outH, outW, n0, epilogue, C, inH, inW, p.padBefore[1], p.padBefore[2]),
    );
    m.dispose();
  }
  u.dispose();
}
