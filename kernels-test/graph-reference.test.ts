// The float64 graph references (src/reference/graph.ts): SpMM, GCNConv and readout, forward and
// backward, against PyTorch fixtures (scripts/golden/make_gcn_fixtures.py) and finite differences,
// and 5 Adam steps of the karate-club GCN replayed on the references against PyTorch's losses.
import { describe, expect, it } from 'vitest';
import { batchGraphs } from '../src/data/graphs/batch.js';
import { cooToCsr } from '../src/data/graphs/csr.js';
import type { Graph } from '../src/data/graphs/graph.js';
import { karateClub } from '../src/data/graphs/karate-club.js';
import { seededRandom } from '../src/data/shuffle.js';
import { reluBackwardRef, reluRef } from '../src/reference/elementwise.js';
import { matmulRef } from '../src/reference/gemm.js';
import {
  gcnConvBackwardRef,
  gcnConvRef,
  readoutBackwardRef,
  readoutRef,
  spmmBackwardRef,
  spmmRef,
  type GcnConvRefOptions,
  type ReadoutReduce,
} from '../src/reference/graph.js';
import { host, hostZeros, type HostTensor } from '../src/reference/host-tensor.js';
import { crossEntropyBackwardRef, crossEntropyRef } from '../src/reference/loss.js';
import { adamStateRef, adamStepRef } from '../src/reference/optim.js';
import { checkGradient, dot } from './gradcheck.js';
import { loadGcnConvCases, loadKarateAdam, loadReadoutCases, type GcnFixtureTensor } from './graph-fixtures.js';
import { assertClose } from './helpers.js';

/** PyTorch's values are float64 results rounded once to float32: ours differ by that rounding alone. */
const FIXTURE = { rtol: 2e-7, atol: 1e-12 };

const fromFixture = (t: GcnFixtureTensor): HostTensor => ({ shape: [...t.shape], data: Float64Array.from(t.data) });

function randomHost(shape: number[], seed: number): HostTensor {
  const random = seededRandom(seed);
  return host(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random() * 2 - 1), shape);
}

function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected an error');
}

describe('spmmRef', () => {
  const random = seededRandom(11);
  const rows = Int32Array.from({ length: 25 }, () => Math.floor(random() * 6));
  const cols = Int32Array.from({ length: 25 }, () => Math.floor(random() * 5));
  [rows[1], cols[1]] = [rows[0]!, cols[0]!]; // a duplicate entry
  const values = Float64Array.from({ length: 25 }, () => random() * 2 - 1);
  const a = cooToCsr(6, 5, rows, cols, values);
  const x = randomHost([5, 3], 12);

  it('is the dense product', () => {
    const dense = hostZeros([6, 5]);
    for (let k = 0; k < 25; k++) dense.data[rows[k]! * 5 + cols[k]!]! += values[k]!;
    assertClose(spmmRef(a, x).data, matmulRef(dense, x).data, { rtol: 1e-12, atol: 1e-14 }, 'spmm');
  });

  it('has the gradients of finite differences for the dense operand and the values', () => {
    const gradOut = randomHost([6, 3], 13);
    const { gradX, gradValues } = spmmBackwardRef(gradOut, a, x);
    const f = () => dot(spmmRef(a, x).data, gradOut.data);
    checkGradient(gradX.data, f, x.data, 'spmm dx');
    checkGradient(gradValues, f, a.values, 'spmm dvalues');
  });

  it('refuses a dense operand of the wrong height', () => {
    expect(errorOf(() => spmmRef(a, randomHost([4, 3], 1)))).toBe('spmmRef: expected a dense operand [5, columns], got [4, 3]');
  });
});

describe('gcnConvRef against PyTorch (GCNConv semantics written out in torch)', () => {
  for (const c of loadGcnConvCases()) {
    it(c.name, () => {
      const edgeWeight = c.inputs.edgeWeight?.data;
      const graph: Graph = { numNodes: c.graph.numNodes, edgeIndex: c.graph.edgeIndex, ...(edgeWeight ? { edgeWeight } : {}) };
      const options: GcnConvRefOptions = { normalize: c.options.normalize, addSelfLoops: c.options.addSelfLoops };
      const x = fromFixture(c.inputs.x!);
      const weight = fromFixture(c.inputs['lin.weight']!);
      const bias = c.options.bias ? fromFixture(c.inputs.bias!) : undefined;
      assertClose(gcnConvRef(x, graph, weight, bias, options).data, c.outputs.out.data, FIXTURE, `${c.name} out`);
      const grads = gcnConvBackwardRef(fromFixture(c.inputs.gradOut!), x, graph, weight, options);
      assertClose(grads.gradX.data, c.gradients.x!.data, FIXTURE, `${c.name} dx`);
      assertClose(grads.gradWeight.data, c.gradients['lin.weight']!.data, FIXTURE, `${c.name} dweight`);
      assertClose(grads.gradEdgeWeight, c.gradients.edgeWeight!.data, FIXTURE, `${c.name} dedgeWeight`);
      if (bias) assertClose(grads.gradBias.data, c.gradients.bias!.data, FIXTURE, `${c.name} dbias`);
      if (c.graph.components) expect(batchGraphs(c.graph.components).edgeIndex).toEqual(c.graph.edgeIndex);
    });
  }
});

describe('gcnConvBackwardRef against finite differences', () => {
  // Directed and weighted: a self-loop at node 2, node 5 with outgoing edges only, node 6 isolated.
  const random = seededRandom(21);
  const graph = {
    numNodes: 7,
    edgeIndex: Int32Array.of(0, 1, 2, 2, 3, 4, 5, 1, 3, /* targets */ 1, 2, 2, 0, 4, 1, 0, 3, 0),
    edgeWeight: Float64Array.from({ length: 9 }, () => 0.3 + random()),
  };
  const x = randomHost([7, 3], 22);
  const weight = randomHost([4, 3], 23);
  const bias = randomHost([4], 24);
  const gradOut = randomHost([7, 4], 25);
  const settings: GcnConvRefOptions[] = [{}, { addSelfLoops: false }, { normalize: false }];
  for (const options of settings) {
    it(`${JSON.stringify(options)}`, () => {
      const g = gcnConvBackwardRef(gradOut, x, graph, weight, options);
      const f = () => dot(gcnConvRef(x, graph, weight, bias, options).data, gradOut.data);
      checkGradient(g.gradX.data, f, x.data, 'dx');
      checkGradient(g.gradWeight.data, f, weight.data, 'dweight');
      checkGradient(g.gradBias.data, f, bias.data, 'dbias');
      checkGradient(g.gradEdgeWeight, f, graph.edgeWeight, 'dedgeWeight');
    });
  }

  it('refuses self-loops without normalisation, and mismatched shapes', () => {
    expect(errorOf(() => gcnConvRef(x, graph, weight, bias, { normalize: false, addSelfLoops: true }))).toBe(
      "gcnConvRef: addSelfLoops needs normalize (PyG's GCNConv adds self-loops only while normalising)",
    );
    expect(errorOf(() => gcnConvRef(randomHost([6, 3], 1), graph, weight))).toBe('gcnConvRef: expected node features [7, 3], got [6, 3]');
    expect(errorOf(() => gcnConvRef(x, graph, weight, randomHost([3], 1)))).toBe('gcnConvRef: expected bias [4], got [3]');
    expect(errorOf(() => gcnConvRef(x, { numNodes: 7, edgeIndex: Int32Array.of(0, 7) }, weight))).toBe(
      'gcnConvRef: edge 0 has target node 7, which is out of range for 7 nodes (expected 0 <= node < 7)',
    );
  });
});

describe('readoutRef against PyTorch (global_*_pool)', () => {
  for (const c of loadReadoutCases()) {
    it(c.name, () => {
      const x = fromFixture(c.inputs.x);
      assertClose(readoutRef(x, c.batch, c.numGraphs, c.reduce).data, c.outputs.out.data, FIXTURE, `${c.name} out`);
      const grad = readoutBackwardRef(fromFixture(c.inputs.gradOut), x, c.batch, c.numGraphs, c.reduce);
      assertClose(grad.data, c.gradients.x.data, FIXTURE, `${c.name} dx`);
    });
  }
});

describe('readoutBackwardRef against finite differences', () => {
  const batch = Int32Array.of(2, 0, 0, 1, 2, 0, 2, 2);
  const x = randomHost([8, 3], 31); // distinct values: no ties, so max is differentiable
  const gradOut = randomHost([4, 3], 32); // graph 3 has no nodes
  for (const reduce of ['sum', 'mean', 'max'] as ReadoutReduce[]) {
    it(reduce, () => {
      const grad = readoutBackwardRef(gradOut, x, batch, 4, reduce);
      checkGradient(grad.data, () => dot(readoutRef(x, batch, 4, reduce).data, gradOut.data), x.data, `readout ${reduce}`);
    });
  }

  it('refuses a bad node-to-graph index or reduction', () => {
    expect(errorOf(() => readoutRef(x, batch, 2, 'sum'))).toBe('readoutRef: node 0 is assigned to graph 2, expected 0 <= graph < 2');
    expect(errorOf(() => readoutRef(x, batch, 4, 'min' as ReadoutReduce))).toBe(`readoutRef: expected reduce 'sum', 'mean' or 'max', got "min"`);
  });
});

describe('karate club: 5 Adam steps of a 2-layer GCN on the references', () => {
  it('has the same losses and weights as PyTorch', () => {
    const fixture = loadKarateAdam();
    const club = karateClub();
    expect(fixture.edgeIndex).toEqual(club.edgeIndex);
    expect(fixture.trainNodes).toEqual(Array.from(club.trainNodes));
    expect(fixture.trainLabels).toEqual(Array.from(club.trainNodes, (i) => club.labels[i]!));
    const graph: Graph = { numNodes: club.numNodes, edgeIndex: club.edgeIndex };
    const x = host(club.features, [34, 34]);
    const params = Object.fromEntries(Object.entries(fixture.init).map(([name, t]) => [name, fromFixture(t)]));
    const state = Object.fromEntries(Object.entries(params).map(([name, p]) => [name, adamStateRef(p.data.length)]));
    const target = host(fixture.trainLabels, [2]);
    const train = fixture.trainNodes;
    const classes = 2;

    const forward = () => {
      const pre = gcnConvRef(x, graph, params['conv1.lin.weight']!, params['conv1.bias']!);
      const hidden = reluRef(pre);
      const out = gcnConvRef(hidden, graph, params['conv2.lin.weight']!, params['conv2.bias']!);
      const logits = host(train.flatMap((i) => Array.from(out.data.subarray(i * classes, (i + 1) * classes))), [train.length, classes]);
      return { pre, hidden, logits };
    };
    const losses: number[] = [];
    const { lr, betas, eps, weightDecay } = fixture.optimizer;
    for (let step = 0; step < fixture.optimizer.steps; step++) {
      const { pre, hidden, logits } = forward();
      losses.push(crossEntropyRef(logits, target).data[0]!);
      const gradLogits = crossEntropyBackwardRef(logits, target);
      const gradOut = hostZeros([34, classes]);
      train.forEach((i, k) => gradOut.data.set(gradLogits.data.subarray(k * classes, (k + 1) * classes), i * classes));
      const g2 = gcnConvBackwardRef(gradOut, hidden, graph, params['conv2.lin.weight']!);
      const g1 = gcnConvBackwardRef(reluBackwardRef(g2.gradX, pre), x, graph, params['conv1.lin.weight']!);
      const grads: Record<string, HostTensor> = {
        'conv1.lin.weight': g1.gradWeight,
        'conv1.bias': g1.gradBias,
        'conv2.lin.weight': g2.gradWeight,
        'conv2.bias': g2.gradBias,
      };
      for (const [name, p] of Object.entries(params)) adamStepRef(p.data, grads[name]!.data, state[name]!, { lr, betas, eps, weightDecay });
    }
    const tight = { rtol: 1e-10, atol: 1e-12 };
    assertClose(losses, fixture.losses, tight, 'losses');
    assertClose([crossEntropyRef(forward().logits, target).data[0]!], [fixture.finalLoss], tight, 'loss after 5 steps');
    for (const [name, t] of Object.entries(fixture.after)) assertClose(params[name]!.data, t.data, FIXTURE, `${name} after 5 steps`);
    expect(losses[4]!).toBeLessThan(losses[0]!);
  });
});
