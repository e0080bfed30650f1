// Small layout changes the backward passes make before a GEMM, so that its operands are row-major
// and 4-aligned (the GEMM core's fast path): swapping the two middle axes of [G][A][B][L], with
// the last axis optionally reversed and the swapped rows zero-padded (shaders/conv_backward_transpose.wgsl).
import { grid1d, type Engine } from '../runtime/engine.js';
import type { KernelSpec } from '../runtime/kernel.js';
import type { Shape, Tensor } from '../runtime/tensor.js';
import { params } from '../runtime/uniforms.js';

const WG = 256;

const KERNEL: KernelSpec = { name: 'transposeAxes', shader: 'conv_backward_transpose', defines: { WG }, bindings: ['uniform', 'read', 'write'] };

export interface TransposeLayout {
  groups: number;
  /** Rows of each group in the source (the axis that moves after B). */
  a: number;
  b: number;
  /** Length of the innermost axis (1 for a plain matrix transpose). */
  l: number;
  /** Rows of the result per (group, b), >= a; rows a.. are zeros. Default a. */
  aPadded?: number;
  /** Reverse the innermost axis (flipping a convolution kernel). */
  reverse?: boolean;
}

/**
 * src viewed as [groups][a][b][l] (its first groups * a * b * l values) into a new tensor of
 * `shape` holding [groups][b][aPadded][l].
 */
export function transposeAxes(engine: Engine, src: Tensor, layout: TransposeLayout, shape: Shape): Tensor {
  const dst = engine.empty(shape);
  transposeInto(engine, src, layout, dst);
  return dst;
}

/** transposeAxes into an existing tensor `dst` of groups * b * aPadded * l values. */
export function transposeInto(engine: Engine, src: Tensor, layout: TransposeLayout, dst: Tensor): void {
  const aPadded = layout.aPadded ?? layout.a;
  const total = layout.groups * layout.b * aPadded * layout.l;
  if (dst.size !== total) throw new Error(`transposeAxes: shape [${dst.shape.join(', ')}] does not hold ${total} values`);
  if (total === 0) return;
  const u = params().u32(total, layout.a, layout.b, layout.l, aPadded, layout.reverse ? 1 : 0);
  engine.dispatch(KERNEL, [src, dst], grid1d(total, WG, engine.limits.maxComputeWorkgroupsPerDimension), u);
}
