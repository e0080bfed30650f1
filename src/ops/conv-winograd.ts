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
// wants enough tiles to spread that over (see conv.ts).
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
import { gemm } from './gemm.js';
import { epilogueBits } from './gemm-tile.js';

/** Output tile edge: F(2x2, 3x3) or F(4x4, 3x3). */
export type WinogradTile = 2 | 4;

const WG = 64;
const roundUp4 = (n: number) => Math.ceil(n / 4) * 4;

/** Why the Winograd route cannot compute `p` (a 2-D 3x3 convolution, stride 1, dilation 1, groups 1), or undefined. */
export function winogradMismatch(p: ConvProblem): string | undefined {
  if (p.dims !== 2) return `it handles conv2d only, not ${p.op}`;
  if (p.kernel[1] !== 3 || p.kernel[2] !== 3) return `it needs a 3x3 kernel, got ${p.kernel[1]}x${p.kernel[2]}`;
  if (p.stride.some((s) => s !== 1)) return `it needs stride 1, got (${p.stride[1]}, ${p.stride[2]})`;
  if (p.dilation.some((d) => d !== 1)) return `it needs dilation 1, got (${p.dilation[1]}, ${p.dilation[2]})`;
  if (p.groups !== 1) return `it needs groups 1, got ${p.groups}`;
  return undefined;
}

/** The tiles covering one image's output, and the transform's points per tile. */
export function winogradTiles(p: ConvProblem, tile: WinogradTile): { tilesW: number; perImage: number; points: number } {
  const tilesW = Math.ceil(p.output[2] / tile);
  return { tilesW, perImage: Math.ceil(p.output[1] / tile) * tilesW, points: (tile + 2) ** 2 };
}

/**
 * Images per chunk such that the transformed weights, and one chunk's transformed input and
 * products, each fit in `maxBindingBytes`; 0 when not even one image does.
 */
export function winogradImagesPerChunk(p: ConvProblem, tile: WinogradTile, batch: number, maxBindingBytes: number): number {
  const maxFloats = Math.floor(maxBindingBytes / 4);
  const Cp = roundUp4(p.inChannels);
  const { perImage, points } = winogradTiles(p, tile);
  if (points * p.outChannels * Cp > maxFloats) return 0;
  const rows = points * Math.max(Cp, p.outChannels);
  let images = Math.min(batch, Math.floor(maxFloats / rows / perImage));
  while (images > 0 && rows * roundUp4(images * perImage) > maxFloats) images--;
  return images;
}

function kernel(op: string, tile: WinogradTile, shader: string, bindings: KernelSpec['bindings']): KernelSpec {
  return { name: `${op}.winograd${tile}x${tile}`, shader, defines: { WG, TILE: tile }, bindings };
}

/**
 * Records the convolution `p` over `batch` images of `x` into `out` (both within a binding),
 * by Winograd F(tile x tile, 3x3), in chunks of images whose transformed operands fit in the
 * engine's binding limit (convSplit keeps one image's within it). `p` must pass `winogradMismatch`.
 */
export function runWinograd(
  engine: Engine,
  p: ConvProblem,
  tile: WinogradTile,
  x: Tensor,
  weight: Tensor,
  bias: Tensor | undefined,
  out: Tensor,
  batch: number,
  residual: Tensor | undefined,
): void {
  const O = p.outChannels;
  const C = p.inChannels;
  const Cp = roundUp4(C);
  const { tilesW, perImage, points } = winogradTiles(p, tile);
  const images = winogradImagesPerChunk(p, tile, batch, engine.maxBindingBytes);
  if (images < 1) throw new Error(`${p.op}: internal error: the Winograd operands of one image or of the weights are over the binding limit`);
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
