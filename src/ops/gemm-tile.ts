// Which GEMM kernel and tile run on this adapter, and their kernel specs: the tile shape is a
// parameter chosen per adapter and problem, never a fork of a shader.
import { grid1d, type Engine } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import type { Tensor } from '../runtime/tensor.js';
import { params } from '../runtime/uniforms.js';
import { fail } from './check.js';

/**
 * Which kernel and tile: a workgroup of `threads` invocations covers rows x (threads * cols)
 * outputs, each invocation rows x cols of them.
 * - 'subgroup' (shaders/gemm_subgroup.wgsl): threads is 8 (one subgroup), rows a multiple of 8,
 *   cols a multiple of 4. Needs A as [M, K] and vec4-aligned operands (see `gemm`).
 * - 'portable' (shaders/gemm.wgsl): any shapes, layouts and adapters.
 */
export interface GemmTile {
  kernel: 'subgroup' | 'portable';
  rows: number;
  cols: number;
  threads: number;
}

/**
 * Below this K the subgroup kernel's sharing of A across the K loop has little to share, and a
 * workgroup's fixed cost dominates (a 1x1 convolution with one input channel ran 4.5x faster on
 * the portable kernel with 64 invocations per workgroup).
 */
export const SHORT_K = 16;

/** Whether the subgroup kernel can run here: subgroups of at least 8 invocations. */
export function hasSubgroupGemm(engine: Engine): boolean {
  return engine.features.has('subgroups') && (engine.device.adapterInfo?.subgroupMinSize ?? 0) >= 8;
}

/** CPU adapters run a workgroup on one thread, its invocations in SIMD lanes. */
export function isCpuAdapter(engine: Engine): boolean {
  return /llvmpipe|lavapipe|swiftshader|warp/i.test(engine.adapterName);
}

/**
 * The kernel `gemm` picks by default: the subgroup kernel on CPU adapters that have subgroups
 * (its 8-invocation workgroups would leave most of a GPU's lanes idle), else the portable one.
 */
export function defaultGemmKernel(engine: Engine): GemmTile['kernel'] {
  return hasSubgroupGemm(engine) && isCpuAdapter(engine) ? 'subgroup' : 'portable';
}

/**
 * The default tile for this adapter and problem. The subgroup kernel's rows are shared through
 * shuffles, so more rows amortise each B load further: on lavapipe 16 x 4 per invocation ran as
 * fast as 24 x 4 and 16 x 8 (more accumulators only spill) and compiles faster; 8 x 4 was ~25%
 * slower but wastes less when M <= 8. The portable kernel keeps A loads uniform across a
 * workgroup (16 x 2 per invocation on CPUs, wider workgroups elsewhere).
 */
export function gemmTile(engine: Engine, M: number, kernel: GemmTile['kernel'] = defaultGemmKernel(engine), K = 64): GemmTile {
  if (kernel === 'subgroup') {
    const rows = M <= 8 ? 8 : 16;
    return { kernel, rows, cols: 4, threads: 8 };
  }
  const cpu = isCpuAdapter(engine);
  // Short reductions leave little work per workgroup: wider workgroups amortise its fixed cost.
  const base = cpu && K >= SHORT_K ? { rows: 16, cols: 2, threads: 8 } : { rows: 8, cols: K >= SHORT_K ? 2 : 4, threads: 64 };
  // Few rows: a smaller power of two wastes less work and still shares each B load.
  let rows = 1;
  while (rows < M && rows < base.rows) rows *= 2;
  return { kernel, ...base, rows };
}

export interface GemmFeatures {
  transA: boolean;
  bMode: 0 | 1 | 2;
}

/** What follows a product (GEMM or Winograd): bias 0 none, 1 per output column, 2 per output row. */
export interface Epilogue {
  bias: 0 | 1 | 2;
  residual: boolean;
  relu: boolean;
}

/**
 * The epilogue as the shaders' runtime `epilogue` parameter (bits 0-1 bias, 2 residual, 3 ReLU):
 * a uniform rather than a define, so one pipeline serves every fused variant.
 */
export function epilogueBits(e: Epilogue): number {
  return e.bias | (e.residual ? 4 : 0) | (e.relu ? 8 : 0);
}

export function gemmKernelSpec(name: string, tile: GemmTile, f: GemmFeatures): KernelSpec {
  if (tile.kernel === 'subgroup') {
    return {
      name,
      shader: 'gemm_subgroup',
      defines: { TM: tile.rows, TN4: tile.cols / 4, B_MODE: f.bMode },
      bindings: ['uniform', 'read', 'read', 'read', 'read', 'write', 'read'],
    };
  }
  return {
    name,
    shader: 'gemm',
    defines: { TM: tile.rows, TN: tile.cols, WG: tile.threads, TRANS_A: f.transA, TRANS_B: f.bMode === 1, IM2COL: f.bMode === 2 },
    bindings: ['uniform', 'read', 'read', 'read', 'read', 'write'],
  };
}

export function checkTile(op: string, tile: GemmTile): void {
  const ok =
    tile.kernel === 'subgroup'
      ? tile.threads === 8 && tile.rows > 0 && tile.rows % 8 === 0 && tile.cols > 0 && tile.cols % 4 === 0
      : [tile.rows, tile.cols, tile.threads].every((v) => Number.isInteger(v) && v > 0);
  if (!ok) fail(op, `bad ${tile.kernel} tile ${JSON.stringify(tile)}`);
}

const PAD_WG = 256;

/** Packs [groups, M, K] (any strides) into a new [groups, M, Kp] with zero columns past K. */
export function padColumns(engine: Engine, a: Tensor, groups: number, M: number, K: number, Kp: number, lda: number, groupStride: number, offset: number): Tensor {
  const total = groups * M * Kp;
  const padded = engine.empty([total]);
  const spec: KernelSpec = { name: 'gemm.pad', shader: 'gemm_pad', defines: { WG: PAD_WG }, bindings: ['uniform', 'read', 'write'] };
  engine.dispatch(spec, [a, padded], grid1d(total, PAD_WG, engine.limits.maxComputeWorkgroupsPerDimension), params().u32(total, M, K, Kp, lda, groupStride, offset));
  return padded;
}
