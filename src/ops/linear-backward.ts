// Backward passes of linear and matmul on the GEMM core (src/ops/gemm.ts):
//   linear  y = x W^T + b:  gradInput = gradOut W,  gradWeight = gradOut^T x,  gradBias = column sums of gradOut
//   matmul  y = a b:        gradA = gradOut b^T,    gradB = a^T gradOut
import type { Engine } from '../runtime/engine.js';
import { runSplit, type Split } from '../runtime/split.js';
import { shapeString, type Tensor } from '../runtime/tensor.js';
import { expectSameEngine, fail } from './check.js';
import { addInPlace } from './elementwise.js';
import { gemm, matmul, matmulProblem, type MatmulAttributes, type MatmulProblem } from './gemm.js';
import { planLinearWeightGradient } from './gemm-tile.js';
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
  // Past the binding limit, by rows; a row too big alone, by output features (gradOut's columns,
  // the weight's rows): both gradients then sum over the chunks of one of the two.
  const axes = [{ name: 'row', size: R }, { name: 'output feature', size: outF }] as const;
  const sum = (acc: Tensor, part: Tensor) => addInPlace(acc, part);
  if (needs.input) {
    const split: Split = {
      op,
      axes,
      operands: [
        { name: 'gradOut', input: gradOut, per: [outF, 1] },
        { name: 'weight', input: weight, per: [0, inF] },
        { name: 'gradInput', output: x.shape, per: [inF, 0], combine: sum },
      ],
    };
    result.gradInput = runSplit(engine, split, ([g, w, dx], c) => gemm(engine, { name: op, a: g!, b: w!, out: dx!, M: c.a, N: inF, K: c.b }))[0];
  }
  if (needs.weight) {
    const split: Split = {
      op,
      axes,
      operands: [
        { name: 'gradOut', input: gradOut, per: [outF, 1] },
        { name: 'x', input: x, per: [inF, 0] },
        { name: 'gradWeight', output: weight.shape, per: [0, inF], combine: sum },
      ],
      // weightGradient's transposed copies: gradOut's rows and x's, padded to 4.
      otherBytes: (rows, features) => 4 * Math.ceil(rows / 4) * 4 * Math.max(features, inF),
    };
    result.gradWeight = runSplit(engine, split, ([g, xs, dw], c) => weightGradient(engine, g!, xs!, c.a, c.b, inF, dw!))[0];
  }
  if (needs.bias) {
    const g = gradOut.reshape([R, outF]);
    result.gradBias = sumRows(g);
    g.dispose();
  }
  return result;
}

/** gradOut^T [out, R] x x [R, in] into `out`, as planLinearWeightGradient says (gemm-tile.ts). */
function weightGradient(engine: Engine, gradOut: Tensor, x: Tensor, R: number, outF: number, inF: number, out: Tensor): void {
  const name = 'linearBackward';
  if (R === 0) {
    engine.upload(out, new Float32Array(out.size));
    return;
  }
  const route = planLinearWeightGradient(engine.planTarget, R, outF, inF);
  if (route === 'direct') {
    gemm(engine, { name, a: gradOut, b: x, out, M: outF, N: inF, K: R, transA: true, lda: outF });
    return;
  }
  const Rp = Math.ceil(R / 4) * 4;
  const gT = transposeAxes(engine, gradOut, { groups: 1, a: R, b: outF, l: 1, aPadded: Rp }, [outF, Rp]);
  if (route === 'transposeGradOut') {
    gemm(engine, { name, a: gT, b: x, out, M: outF, N: inF, K: R });
  } else {
    const xT = transposeAxes(engine, x, { groups: 1, a: R, b: inF, l: 1, aPadded: Rp }, [inF, Rp]);
    gemm(engine, { name, a: gT, b: xT, out, M: outF, N: inF, K: Rp, transB: true });
    xT.dispose();
  }
  gT.dispose();
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
  const p = matmulProblem([a.shape, b.shape], {}, op);
  if (!sameShape(gradOut.shape, p.shape)) {
    fail(op, `expected gradOut of shape ${shapeString(p.shape)} (a ${shapeString(a.shape)} x b ${shapeString(b.shape)}), got ${shapeString(gradOut.shape)}`);
  }
  return matmulGradients(gradOut, a, b, p, {}, needs);
}

/**
 * The gradients of y = op(a) op(b) as matmul computes it (p: its checked sizes) for g = dy, for
 * the operands in `needs`: d op(a) = g op(b)^T and d op(b) = op(a)^T g, each computed transposed
 * where its operand was read transposed, so every product is one GEMM call. An operand shared by
 * the batch gets the sum over it; for b that is one GEMM over the batch folded into rows when a is
 * not transposed. Vectors take part as [1, K] (a) and [K, 1] (b).
 */
export function matmulGradients(g: Tensor, a: Tensor, b: Tensor, p: MatmulProblem, options: MatmulAttributes, needs: MatmulBackwardNeeds): MatmulGradients {
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  const { M, N, K, batch } = p;
  const engine = g.engine;
  if (batch === 0 || M * N * K === 0) {
    return { gradA: needs.a ? engine.zeros(a.shape) : undefined, gradB: needs.b ? engine.zeros(b.shape) : undefined };
  }
  const views: Tensor[] = [];
  const view = (t: Tensor, shape: number[]) => {
    const v = t.reshape(shape);
    views.push(v);
    return v;
  };
  const batched = (t: Tensor, rows: number, cols: number, shared: boolean) => view(t, t.rank <= 2 || shared ? [rows, cols] : [batch, rows, cols]);
  const A = a.rank === 1 ? view(a, [1, K]) : batched(a, a.shape[a.rank - 2]!, a.shape[a.rank - 1]!, p.sharedA);
  const B = b.rank === 1 ? view(b, [K, 1]) : batched(b, b.shape[b.rank - 2]!, b.shape[b.rank - 1]!, p.sharedB);
  const G = view(g, batch > 1 ? [batch, M, N] : [M, N]);
  /** A product summed over the batch when its operand is shared, then shaped like the operand. */
  const finish = (product: Tensor, operand: Tensor, shared: boolean): Tensor => {
    if (!shared) {
      const out = product.reshape(operand.shape);
      product.dispose();
      return out;
    }
    const flat = product.reshape([batch, product.size / batch]);
    const sum = sumRows(flat);
    const out = sum.reshape(operand.shape);
    for (const t of [product, flat, sum]) t.dispose();
    return out;
  };
  try {
    const result: MatmulGradients = {};
    if (needs.a) {
      const product = transA ? matmul(B, G, { transA: transB, transB: true }) : matmul(G, B, { transB: !transB });
      result.gradA = finish(product, a, p.sharedA);
    }
    if (needs.b) {
      if (p.sharedB && !transA) {
        // The batch folds into the rows: A' [batch * M, K] and G' [batch * M, N].
        const [A2, G2] = [view(A, [batch * M, K]), view(G, [batch * M, N])];
        const product = transB ? matmul(G2, A2, { transA: true }) : matmul(A2, G2, { transA: true });
        result.gradB = finish(product, b, false);
      } else {
        const product = transB ? matmul(G, A, { transA: true, transB: transA }) : matmul(A, G, { transA: !transA });
        result.gradB = finish(product, b, p.sharedB);
      }
    }
    return result;
  } finally {
    for (const v of views) v.dispose();
  }
}
