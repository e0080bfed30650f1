// Backward passes of linear and matmul on the GEMM core (src/ops/gemm.ts):
//   linear  y = x W^T + b:  gradInput = gradOut W,  gradWeight = gradOut^T x,  gradBias = column sums of gradOut
//   matmul  y = a b:        gradA = gradOut b^T,    gradB = a^T gradOut
import type { Engine } from '../runtime/engine.js';
import { shapeString, type Tensor } from '../runtime/tensor.js';
import { expectSameEngine, fail } from './check.js';
import { gemm, hasSubgroupGemm } from './gemm.js';
import { sumRows } from './reduce.js';
import { transposeAxes } from './transpose-axes.js';

export interface LinearBackwardNeeds {
  input: boolean;
  weight: boolean;
  bias: boolean;
}

/** New tensors the caller owns: gradInput shaped like x, gradWeight like weight, gradBias [out]. */
export interface LinearGradients {
  gradInput?: Tensor;
  gradWeight?: Tensor;
  gradBias?: Tensor;
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

function checkNeeds(op: string, needs: object, keys: readonly string[]): void {
  const ok = typeof needs === 'object' && needs !== null && keys.every((k) => typeof (needs as Record<string, unknown>)[k] === 'boolean');
  if (!ok) fail(op, `needs must be { ${keys.map((k) => `${k}: boolean`).join(', ')} }, got ${JSON.stringify(needs)}`);
}

/**
 * The gradients of F.linear(x [..., in], weight [out, in], bias [out]) for gradOut [..., out].
 * Only what `needs` asks for is computed.
 */
export function linearBackward(
  gradOut: Tensor,
  x: Tensor,
  weight: Tensor,
  needs: LinearBackwardNeeds = { input: true, weight: true, bias: true },
): LinearGradients {
  const op = 'linearBackward';
  expectSameEngine(op, gradOut, x, weight);
  checkNeeds(op, needs, ['input', 'weight', 'bias']);
  if (weight.rank !== 2) fail(op, `expected weight of shape [out, in], got ${shapeString(weight.shape)}`);
  const [outF, inF] = weight.shape as [number, number];
  if (x.rank === 0 || x.shape[x.rank - 1] !== inF) {
    fail(op, `expected input with ${inF} features (weight ${shapeString(weight.shape)}), got input ${shapeString(x.shape)}`);
  }
  const expected = [...x.shape.slice(0, -1), outF];
  if (!sameShape(gradOut.shape, expected)) {
    fail(op, `expected gradOut of shape ${shapeString(expected)} (input ${shapeString(x.shape)}, weight ${shapeString(weight.shape)}), got ${shapeString(gradOut.shape)}`);
  }
  const engine = x.engine;
  const R = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const result: LinearGradients = {};
  if (needs.input) {
    result.gradInput = engine.empty(x.shape);
    gemm(engine, { name: op, a: gradOut, b: weight, out: result.gradInput, M: R, N: inF, K: outF });
  }
  if (needs.weight) result.gradWeight = weightGradient(engine, gradOut, x, R, outF, inF);
  if (needs.bias) {
    const g = gradOut.reshape([R, outF]);
    result.gradBias = sumRows(g);
    g.dispose();
  }
  return result;
}

/**
 * gradOut^T [out, R] x x [R, in]. The GEMM core's fast (subgroup) kernel reads A row-major with
 * K = R a multiple of 4, so where it runs, gradOut is transposed first into [out, R'] (R rounded up
 * to 4, zero columns past R) and x is read as it is when R and in are multiples of 4, else
 * transposed too, into [in, R'], and read as B^T. The copies (R * (out + in) values) are small
 * beside the 2 R out in multiply-adds: on lavapipe this ran 3-5x faster than the portable kernel
 * reading gradOut transposed in place, which is the path elsewhere.
 */
function weightGradient(engine: Engine, gradOut: Tensor, x: Tensor, R: number, outF: number, inF: number): Tensor {
  if (R === 0) return engine.zeros([outF, inF]);
  const out = engine.empty([outF, inF]);
  const name = 'linearBackward';
  if (!hasSubgroupGemm(engine) || outF === 0 || inF === 0) {
    gemm(engine, { name, a: gradOut, b: x, out, M: outF, N: inF, K: R, transA: true, lda: outF });
    return out;
  }
  const Rp = Math.ceil(R / 4) * 4;
  const gT = transposeAxes(engine, gradOut, { groups: 1, a: R, b: outF, l: 1, aPadded: Rp }, [outF, Rp]);
  if (Rp === R && inF % 4 === 0) {
    gemm(engine, { name, a: gT, b: x, out, M: outF, N: inF, K: R });
  } else {
    const xT = transposeAxes(engine, x, { groups: 1, a: R, b: inF, l: 1, aPadded: Rp }, [inF, Rp]);
    gemm(engine, { name, a: gT, b: xT, out, M: outF, N: inF, K: Rp, transB: true });
    xT.dispose();
  }
  gT.dispose();
  return out;
}

export interface MatmulBackwardNeeds {
  a: boolean;
  b: boolean;
}

export interface MatmulGradients {
  gradA?: Tensor;
  gradB?: Tensor;
}

/**
 * The gradients of torch.matmul(a [..., M, K], b [..., K, N]) for gradOut [..., M, N], both
 * operands at least 2-D, with equal batch dims or one side a plain matrix shared by the batch (its
 * gradient sums over the batch). Only what `needs` asks for is computed.
 */
export function matmulBackward(gradOut: Tensor, a: Tensor, b: Tensor, needs: MatmulBackwardNeeds = { a: true, b: true }): MatmulGradients {
  const op = 'matmulBackward';
  expectSameEngine(op, gradOut, a, b);
  checkNeeds(op, needs, ['a', 'b']);
  if (a.rank < 2 || b.rank < 2) fail(op, `both operands need at least two dimensions, got a ${shapeString(a.shape)} and b ${shapeString(b.shape)}`);
  const [M, K] = a.shape.slice(-2) as [number, number];
  const [Kb, N] = b.shape.slice(-2) as [number, number];
  if (K !== Kb) fail(op, `inner dimensions differ (${K} vs ${Kb}): a ${shapeString(a.shape)} x b ${shapeString(b.shape)}`);
  const dimsA = a.shape.slice(0, -2);
  const dimsB = b.shape.slice(0, -2);
  if (dimsA.length > 0 && dimsB.length > 0 && !sameShape(dimsA, dimsB)) {
    fail(op, `batch dimensions must match or one operand must be a matrix: a ${shapeString(a.shape)} x b ${shapeString(b.shape)}`);
  }
  const batchDims = dimsA.length > 0 ? dimsA : dimsB;
  const expected = [...batchDims, M, N];
  if (!sameShape(gradOut.shape, expected)) {
    fail(op, `expected gradOut of shape ${shapeString(expected)} (a ${shapeString(a.shape)} x b ${shapeString(b.shape)}), got ${shapeString(gradOut.shape)}`);
  }
  const engine = a.engine;
  const batch = batchDims.reduce((p, d) => p * d, 1);
  const sharedA = dimsA.length === 0 && batch > 1;
  const sharedB = dimsB.length === 0 && batch > 1;
  const result: MatmulGradients = {};
  if (needs.a) {
    // gradA_t = gradOut_t [M, N] x b_t^T; a shared a sums the per-item products.
    const out = engine.empty(sharedA ? [batch, M * K] : a.shape);
    if (batch > 0) {
      gemm(engine, {
        name: op,
        a: gradOut,
        b,
        out,
        M,
        N: K,
        K: N,
        transB: true,
        batch,
        strides: { a: [M * N, 0], b: [sharedB ? 0 : K * N, 0], c: [M * K, 0] },
      });
    }
    if (sharedA) {
      const sum = sumRows(out);
      result.gradA = sum.reshape(a.shape);
      sum.dispose();
      out.dispose();
    } else {
      result.gradA = batch > 0 ? out : (out.dispose(), engine.zeros(a.shape));
    }
  }
  if (needs.b) {
    // gradB_t = a_t^T x gradOut_t; a shared b reduces over (t, m) at once: a and gradOut are then
    // [batch * M, K] and [batch * M, N] matrices.
    const out = engine.empty(b.shape);
    const [batchB, rows] = sharedB ? [1, batch * M] : [batch, M];
    if (batch === 0 || rows === 0) {
      out.dispose();
      result.gradB = engine.zeros(b.shape);
    } else {
      gemm(engine, {
        name: op,
        a,
        b: gradOut,
        out,
        M: K,
        N,
        K: rows,
        transA: true,
        batch: batchB,
        strides: { a: [sharedA ? 0 : M * K, 0], b: [M * N, 0], c: [K * N, 0] },
      });
      result.gradB = out;
    }
  }
  return result;
}
