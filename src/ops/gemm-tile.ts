// Which GEMM kernel and tile run a product (planGemm, from the device profile's thresholds), and
// their kernel specs: the tile shape is a parameter chosen per profile and problem, never a fork
// of a shader.
import type { DeviceProfile, PlanTarget } from '../runtime/device-profile.js';
import { grid1d, type Engine } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import type { Tensor } from '../runtime/tensor.js';
import { params } from '../runtime/uniforms.js';
import { fail } from './check.js';

/**
 * Which kernel and tile. The register-blocked kernels: a workgroup of `threads` invocations covers
 * rows x (threads * cols) outputs, each invocation rows x cols of them.
 * - 'subgroup' (shaders/gemm_subgroup.wgsl): threads is 8 (one subgroup), rows a multiple of 8,
 *   cols a multiple of 4. Needs A as [M, K] and vec4-aligned operands (see `subgroupFits`).
 * - 'portable' (shaders/gemm.wgsl): any shapes, layouts and adapters.
 */
export interface RegisterTile {
  kernel: 'subgroup' | 'portable';
  rows: number;
  cols: number;
  threads: number;
}

/**
 * The workgroup-memory kernel ('tiled', shaders/gemm_tiled.wgsl): a workgroup of `threads` =
 * rows x cols / 16 invocations covers a rows x cols block, 4 x 4 per invocation, staging `depth`
 * steps of K at a time. Any shapes and layouts.
 */
export interface SharedTile {
  kernel: 'tiled';
  rows: number;
  cols: number;
  depth: number;
  threads: number;
}

export type GemmTile = RegisterTile | SharedTile;
export type GemmKernel = GemmTile['kernel'];

/** Output rows and columns one workgroup covers. */
export function tileSpan(tile: GemmTile): { rows: number; cols: number } {
  return tile.kernel === 'tiled' ? { rows: tile.rows, cols: tile.cols } : { rows: tile.rows, cols: tile.threads * tile.cols };
}

/** A product as the planner sees it: its sizes, and whether its operands suit the subgroup kernel. */
export interface GemmShape {
  M: number;
  K: number;
  /** A is [M, K] and every A / B offset, stride and row length is 4-aligned (see `subgroupFits`). */
  subgroupFits: boolean;
}

/**
 * `kernel`'s tile for M rows and a reduction of K under `profile`. The subgroup kernel shares its
 * rows through shuffles, so more rows amortise each B load further; the portable kernel's rows
 * shrink to the smallest power of two >= M (less wasted work, each B load still shared).
 */
export function gemmTileFor(profile: DeviceProfile, kernel: GemmKernel, M: number, K = 64): GemmTile {
  const g = profile.gemm;
  if (kernel === 'subgroup') return { kernel, rows: M <= g.subgroup.fewRows ? g.subgroup.fewRows : g.subgroup.rows, cols: g.subgroup.cols, threads: 8 };
  if (kernel === 'tiled') {
    const rows = M < g.tiled.rows ? g.tiled.fewRows : g.tiled.rows;
    return { kernel, rows, cols: g.tiled.cols, depth: g.tiled.depth, threads: (rows * g.tiled.cols) / 16 };
  }
  const base = K >= g.shortK ? g.portable : g.portableShortK;
  let rows = 1;
  while (rows < M && rows < base.rows) rows *= 2;
  return { kernel, ...base, rows };
}

/**
 * The kernel and tile for a product: the profile's preferred kernel where the product suits it
 * (the subgroup kernel needs subgroups, aligned operands and K >= shortK; the tiled kernel
 * M >= tiled.minRows), else the portable one.
 */
export function planGemm(target: PlanTarget, s: GemmShape): GemmTile {
  const g = target.profile.gemm;
  if (g.preferred === 'subgroup' && target.subgroups && s.subgroupFits && s.K >= g.shortK) return gemmTileFor(target.profile, 'subgroup', s.M, s.K);
  if (g.preferred === 'tiled' && s.M >= g.tiled.minRows) return gemmTileFor(target.profile, 'tiled', s.M, s.K);
  return gemmTileFor(target.profile, 'portable', s.M, s.K);
}

/** A tile in a few characters, as bench/gemm-tune.ts takes them: sg:16x4x8, pt:16x2x8, tl:64x64x16 (rows x cols x threads or depth). */
export function tileLabel(tile: GemmTile): string {
  if (tile.kernel === 'tiled') return `tl:${tile.rows}x${tile.cols}x${tile.depth}`;
  return `${tile.kernel === 'subgroup' ? 'sg' : 'pt'}:${tile.rows}x${tile.cols}x${tile.threads}`;
}

/**
 * How linear's weight gradient gradOut^T [out, R] x x [R, in] runs. The subgroup kernel reads A
 * row-major with K = R a multiple of 4, so where the profile takes it, gradOut is transposed first
 * into [out, R'] (R rounded up to 4, zero columns past R), and x is read as it is when R and `in`
 * are multiples of 4, else transposed too and read as B^T. The copies (R (out + in) values) are
 * small beside the 2 R out in multiply-adds: on lavapipe this ran 3-5x faster than the portable
 * kernel reading gradOut transposed in place. Elsewhere the product reads gradOut transposed
 * ('direct').
 */
export function planLinearWeightGradient(target: PlanTarget, R: number, outF: number, inF: number): 'direct' | 'transposeGradOut' | 'transposeBoth' {
  if (target.profile.gemm.preferred !== 'subgroup' || !target.subgroups || outF === 0 || inF === 0) return 'direct';
  return R % 4 === 0 && inF % 4 === 0 ? 'transposeGradOut' : 'transposeBoth';
}

/** Where a product's operands sit: what decides whether the subgroup kernel can read them. */
export interface GemmLayout {
  N: number;
  K: number;
  transA: boolean;
  /** 0: B is [K, N]; 1: B is stored [N, K]; 2: B is an image (implicit-GEMM convolution). */
  bMode: 0 | 1 | 2;
  lda: number;
  ldb: number;
  offsetA: number;
  offsetB: number;
  stridesA: readonly [number, number];
  stridesB: readonly [number, number];
  batch: number;
  groups: number;
  sizeA: number;
  sizeB: number;
}

/**
 * Whether the subgroup kernel can read these operands: it reads A (and B in modes 0 and 1) as
 * vec4, so A must be [M, K] and every offset, stride and row length 4-aligned; in mode 0 it reads
 * B's last vec4 of a row whole, so the row padding up to a multiple of 4 must exist.
 */
export function subgroupFits(l: GemmLayout): boolean {
  const aligned4 = (...xs: number[]) => xs.every((v) => v % 4 === 0);
  const last = (offset: number, strides: readonly [number, number], extent: number) => offset + (l.batch - 1) * strides[0] + (l.groups - 1) * strides[1] + extent;
  const paddedRowsFit = () => {
    const width = Math.ceil(l.N / 4) * 4;
    return width <= l.ldb && (l.K === 0 || last(l.offsetB, l.stridesB, (l.K - 1) * l.ldb + width - 1) < l.sizeB);
  };
  const bFits = l.bMode === 2 || (aligned4(l.ldb, l.offsetB, ...l.stridesB) && (l.bMode === 1 || paddedRowsFit()));
  return !l.transA && l.sizeA >= 4 && l.sizeB >= 4 && aligned4(l.K, l.lda, l.offsetA, ...l.stridesA) && bFits;
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
  if (tile.kernel === 'tiled') {
    return {
      name,
      shader: 'gemm_tiled',
      defines: { BM: tile.rows, BN: tile.cols, BK: tile.depth, TRANS_A: f.transA, TRANS_B: f.bMode === 1, IM2COL: f.bMode === 2 },
      bindings: ['uniform', 'read', 'read', 'read', 'read', 'write'],
    };
  }
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

/** Workgroup memory and invocations every WebGPU device offers (the tiled kernel stays within them). */
const MIN_WORKGROUP_BYTES = 16384;
const MIN_INVOCATIONS = 256;

export function checkTile(op: string, tile: GemmTile): void {
  const positive = (...xs: number[]) => xs.every((v) => Number.isInteger(v) && v > 0);
  let ok: boolean;
  if (tile.kernel === 'tiled') {
    const { rows, cols, depth } = tile;
    ok =
      positive(rows, cols, depth) &&
      rows % 16 === 0 &&
      cols % 16 === 0 &&
      (depth * 16) % rows === 0 &&
      (depth * 16) % cols === 0 &&
      tile.threads === (rows * cols) / 16 &&
      tile.threads <= MIN_INVOCATIONS &&
      depth * (rows + cols) * 4 <= MIN_WORKGROUP_BYTES;
  } else if (tile.kernel === 'subgroup') {
    ok = tile.threads === 8 && tile.rows > 0 && tile.rows % 8 === 0 && tile.cols > 0 && tile.cols % 4 === 0;
  } else {
    ok = tile.kernel === 'portable' && positive(tile.rows, tile.cols, tile.threads);
  }
  if (!ok) fail(op, `bad ${String(tile.kernel)} tile ${JSON.stringify(tile)}`);
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
