// Graph convolutional networks on the GPU (src/nn/gcn.ts, src/ops/sparse.ts) against PyTorch
// (scripts/golden/make_gcn_fixtures.py): PyG's GCNConv forward and backward (edge-weight gradients
// through the normalisation included), the readouts forward and backward, and 5 Adam steps of the
// karate-club GCN, all through the Tape. Then bad input: clear errors, or PyG's behaviour.
import { describe, expect, it } from 'vitest';
import { Tape } from '../src/autograd/tape.js';
import { Variable, constant } from '../src/autograd/variable.js';
import { batchGraphs } from '../src/data/graphs/batch.js';
import { cooToCsr } from '../src/data/graphs/csr.js';
import { karateClub } from '../src/data/graphs/karate-club.js';
import { GcnGraph, graphBatch } from '../src/nn/gcn-graph.js';
import { GCN, GCNConv, GraphClassifier } from '../src/nn/gcn.js';
import { readout, readoutIndex, readoutOp, sparseMatrix, spmm } from '../src/ops/sparse.js';
import { Adam } from '../src/optim/adam.js';
import { gcnConvRef } from '../src/reference/graph.js';
import { host } from '../src/reference/host-tensor.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { loadGcnConvCases, loadKarateAdam, loadReadoutCases, type GcnFixtureTensor } from './graph-fixtures.js';
import { assertClose, gradient, reduction, useEngine } from './helpers.js';

const engine = useEngine();

const upload = (t: GcnFixtureTensor): Tensor => engine().tensor(Float32Array.from(t.data), t.shape);

describe('GCNConv against PyTorch', () => {
  for (const c of loadGcnConvCases()) {
    it(c.name, async () => {
      const e = engine();
      if (c.graph.components) expect(Array.from(batchGraphs(c.graph.components).edgeIndex)).toEqual(Array.from(c.graph.edgeIndex));
      const [outF, inF] = c.inputs['lin.weight']!.shape as [number, number];
      const conv = new GCNConv(e, inF, outF, c.options);
      conv.loadStateDict({ 'lin.weight': upload(c.inputs['lin.weight']!), ...(c.options.bias ? { bias: upload(c.inputs.bias!) } : {}) });
      const numEdges = c.graph.edgeIndex.length / 2;
      const weights = c.inputs.edgeWeight?.data ?? new Float64Array(numEdges).fill(1);
      const graph = GcnGraph.create(e, { numNodes: c.graph.numNodes, edgeIndex: c.graph.edgeIndex });
      const x = new Variable(upload(c.inputs.x!), { requiresGrad: true });
      const edgeWeight = new Variable(e.tensor(Float32Array.from(weights)), { requiresGrad: true });
      const tape = new Tape(e);
      const gradOut = upload(c.inputs.gradOut!);
      try {
        const out = conv.callGraph(tape, x, { graph, edgeWeight });
        tape.backward(out, gradOut);
        const degree = Math.max(...Array.from({ length: c.graph.numNodes }, (_, i) => c.graph.edgeIndex.filter((t, k) => k >= numEdges && t === i).length + 1));
        assertClose(await out.value.toArray(), c.outputs.out.data, reduction(degree * inF), `${c.name}: out`);
        assertClose(await x.grad!.toArray(), c.gradients.x!.data, gradient(degree * outF), `${c.name}: d/dx`);
        assertClose(await conv.lin.weight.grad!.toArray(), c.gradients['lin.weight']!.data, gradient(c.graph.numNodes * degree), `${c.name}: d/dlin.weight`);
        if (c.options.bias) assertClose(await conv.bias!.grad!.toArray(), c.gradients.bias!.data, gradient(c.graph.numNodes), `${c.name}: d/dbias`);
        assertClose(await edgeWeight.grad!.toArray(), c.gradients.edgeWeight!.data, gradient(c.graph.numNodes * outF), `${c.name}: d/dedgeWeight`);

        // The same layer on the graph's own weights: normalised once on the GPU, then a constant.
        const own = GcnGraph.create(e, { numNodes: c.graph.numNodes, edgeIndex: c.graph.edgeIndex, ...(c.inputs.edgeWeight ? { edgeWeight: weights } : {}) });
        const eval1 = new Tape(e, { grad: false });
        try {
          const first = await conv.callGraph(eval1, constant(x.value), { graph: own }).value.toArray();
          const again = await conv.callGraph(eval1, constant(x.value), { graph: own }).value.toArray();
          assertClose(first, c.outputs.out.data, reduction(degree * inF), `${c.name}: out with the graph's own weights`);
          expect(Array.from(again)).toEqual(Array.from(first));
        } finally {
          eval1.dispose();
          own.dispose();
        }
      } finally {
        tape.dispose();
        gradOut.dispose();
        graph.dispose();
        x.dispose();
        edgeWeight.dispose();
        conv.dispose();
      }
    });
  }
});

describe('readout against PyTorch', () => {
  for (const c of loadReadoutCases()) {
    it(c.name, async () => {
      const e = engine();
      const index = readoutIndex(e, c.batch, c.numGraphs);
      const x = new Variable(upload(c.inputs.x), { requiresGrad: true });
      const gradOut = upload(c.inputs.gradOut);
      const tape = new Tape(e);
      try {
        const out = tape.apply(readoutOp, [x, index.batch, index.graphPtr, index.nodeIds], { reduce: c.reduce });
        tape.backward(out, gradOut);
        const k = Math.max(...Array.from({ length: c.numGraphs }, (_, g) => c.batch.filter((b) => b === g).length));
        assertClose(await out.value.toArray(), c.outputs.out.data, reduction(k), `${c.name}: out`);
        assertClose(await x.grad!.toArray(), c.gradients.x.data, gradient(1), `${c.name}: d/dx`);
      } finally {
        tape.dispose();
        gradOut.dispose();
        x.dispose();
        index.dispose();
      }
    });
  }
});

describe('the karate-club GCN against PyTorch', () => {
  it('takes the same 5 Adam steps: losses within 1e-4', async () => {
    const e = engine();
    const f = loadKarateAdam();
    const club = karateClub();
    expect(Array.from(club.edgeIndex)).toEqual(Array.from(f.edgeIndex));
    const model = new GCN(e, club.numFeatures, 2, { hidden: f.hidden, dropout: 0 });
    const init = Object.fromEntries(Object.entries(f.init).map(([k, t]) => [k, upload(t)]));
    model.loadStateDict(init);
    Object.values(init).forEach((t) => t.dispose());
    const graph = GcnGraph.create(e, club);
    const x = constant(e.tensor(club.features, [club.numNodes, club.numFeatures]));
    const labels = new Int32Array(club.numNodes).fill(-100); // unlabelled nodes are ignored
    f.trainNodes.forEach((node, i) => (labels[node] = f.trainLabels[i]!));
    const target = e.tensor(labels);
    const o = f.optimizer;
    const adam = new Adam(model.parameters(), { lr: o.lr, betas: o.betas, eps: o.eps, weightDecay: o.weightDecay });
    const losses: number[] = [];
    try {
      for (let step = 0; step <= o.steps; step++) {
        const tape = new Tape(e, { grad: step < o.steps });
        const loss = tape.crossEntropy(model.callGraph(tape, x, { graph }), target);
        if (step < o.steps) {
          adam.zeroGrad();
          tape.backward(loss);
          adam.step();
        }
        losses.push((await loss.value.toArray())[0]!);
        tape.dispose();
      }
      const want = [...f.losses, f.finalLoss];
      for (let i = 0; i < want.length; i++) expect(Math.abs(losses[i]! - want[i]!), `loss ${i}: ${losses[i]} vs ${want[i]}`).toBeLessThan(1e-4);
      for (const [name, p] of model.namedParameters()) assertClose(await p.value.toArray(), f.after[name]!.data, { rtol: 1e-3, atol: 1e-5 }, `${name} after 5 steps`);
    } finally {
      target.dispose();
      x.dispose();
      graph.dispose();
      model.dispose();
    }
  });
});

/** The error message of a call that must throw. */
function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected an error');
}

describe('bad input', () => {
  it('refuses an edge index out of range or negative, naming the edge', () => {
    const e = engine();
    expect(errorOf(() => GcnGraph.create(e, { numNodes: 3, edgeIndex: Int32Array.of(0, 1, 1, 3) }))).toBe(
      'GcnGraph: edge 1 has target node 3, which is out of range for 3 nodes (expected 0 <= node < 3)',
    );
    expect(errorOf(() => GcnGraph.create(e, { numNodes: 3, edgeIndex: Int32Array.of(0, -1, 1, 2) }))).toBe(
      'GcnGraph: edge 1 has source node -1, which is negative (expected 0 <= node < 3)',
    );
    expect(errorOf(() => GcnGraph.create(e, { numNodes: 3, edgeIndex: Int32Array.of(0, 1, 2) }))).toBe(
      'GcnGraph: expected an edge index of shape [2, E] (an even number of values), got 3 values',
    );
    expect(errorOf(() => GcnGraph.create(e, { numNodes: 3, edgeIndex: Int32Array.of(0, 1), edgeWeight: [1, 2] }))).toBe(
      'GcnGraph: expected one edge weight per edge (1), got 2',
    );
  });

  it('refuses a malformed CSR and a bad node-to-graph index before anything reaches the GPU', () => {
    const e = engine();
    const csr = cooToCsr(3, 3, Int32Array.of(0, 2), Int32Array.of(1, 0));
    expect(errorOf(() => sparseMatrix(e, { ...csr, colIdx: Int32Array.of(1, 5) }))).toBe('sparseMatrix: slot 1 has column 5, expected 0 <= column < 3');
    expect(errorOf(() => sparseMatrix(e, { ...csr, rowPtr: Int32Array.of(0, 2, 1, 2) }))).toBe('sparseMatrix: rowPtr decreases at row 1 (2 then 1)');
    expect(errorOf(() => readoutIndex(e, Int32Array.of(0, 2, 1), 2))).toBe('readoutIndex: node 1 is assigned to graph 2, expected 0 <= graph < 2');
  });

  it('refuses node features of the wrong length, and operands of the wrong shape', () => {
    const e = engine();
    const graph = GcnGraph.create(e, { numNodes: 4, edgeIndex: Int32Array.of(0, 1, 1, 0) });
    const conv = new GCNConv(e, 3, 2);
    const tape = new Tape(e);
    const x = constant(e.zeros([5, 3]));
    const wide = constant(e.zeros([4, 2]));
    const a = sparseMatrix(e, cooToCsr(4, 4, Int32Array.of(1, 0), Int32Array.of(0, 1)));
    try {
      expect(errorOf(() => conv.callGraph(tape, x, { graph }))).toBe('GCNConv: expected node features [4, 3] (nodes, inChannels), got [5, 3]');
      expect(errorOf(() => conv.callGraph(tape, wide, { graph }))).toBe('GCNConv: expected node features [4, 3] (nodes, inChannels), got [4, 2]');
      expect(errorOf(() => conv.callGraph(tape, wide, { graph, edgeWeight: constant(e.zeros([3])) }))).toContain('GCNConv: expected node features');
      expect(errorOf(() => conv.forward(tape, x))).toBe('GCNConv: needs a graph: call it with callGraph(tape, x, { graph })');
      expect(errorOf(() => spmm(a, e.zeros([2]), x.value))).toBe('spmm: expected tRowPtr (columns + 1 = 6) of shape [6], got [5]');
      expect(errorOf(() => spmm(a, e.zeros([3]), wide.value))).toBe('spmm: expected colIdx (one per slot: 3) of shape [3], got [2]');
      expect(errorOf(() => new GCNConv(e, 3, 2, { normalize: false, addSelfLoops: true }))).toBe(
        'GCNConv: addSelfLoops needs normalize (PyG adds self-loops only while normalising)',
      );
    } finally {
      a.dispose();
      tape.dispose();
      x.dispose();
      wide.dispose();
      conv.dispose();
      graph.dispose();
    }
  });

  it('refuses a dense operand over the storage-binding limit (its rows are gathered from anywhere)', () => {
    const e = engine();
    const limit = e.limits.maxStorageBufferBindingSize;
    const cols = 1 << 20;
    const features = Math.floor(limit / (4 * cols)) + 1;
    const a = sparseMatrix(e, cooToCsr(2, cols, Int32Array.of(0, 1), Int32Array.of(cols - 1, 5)));
    const values = e.zeros([2]);
    const x = e.empty([cols, features]); // never written: the op refuses it before recording anything
    try {
      expect(errorOf(() => spmm(a, values, x))).toBe(
        `spmm: x [${cols}, ${features}] takes ${cols * features * 4} bytes, over the storage-binding limit of ${limit} bytes (the device's maxStorageBufferBindingSize); sparse ops bind each operand whole`,
      );
    } finally {
      x.dispose();
      values.dispose();
      a.dispose();
    }
  });

  it('refuses edge weights of the wrong length', () => {
    const e = engine();
    const graph = GcnGraph.create(e, { numNodes: 2, edgeIndex: Int32Array.of(0, 1, 1, 0) });
    const conv = new GCNConv(e, 3, 2);
    const tape = new Tape(e);
    const x = constant(e.zeros([2, 3]));
    try {
      expect(errorOf(() => conv.callGraph(tape, x, { graph, edgeWeight: constant(e.zeros([3])) }))).toBe('GCNConv: expected edgeWeight of shape [2] (one per edge), got [3]');
    } finally {
      tape.dispose();
      x.dispose();
      conv.dispose();
      graph.dispose();
    }
  });

  it('gives PyG\'s answer for a graph with no edges and for isolated nodes', async () => {
    const e = engine();
    // Nodes 3 and 4 are isolated; a graph of 3 nodes with no edges at all.
    for (const [numNodes, pairs] of [[5, [0, 1, 1, 2, 1, 0, 2, 1]], [3, []]] as const) {
      const edgeIndex = Int32Array.from(pairs);
      for (const options of [{}, { normalize: false, addSelfLoops: false }]) {
        const graph = GcnGraph.create(e, { numNodes, edgeIndex });
        const conv = new GCNConv(e, 4, 3, options);
        const xs = Float32Array.from({ length: numNodes * 4 }, (_, i) => Math.sin(i + 1));
        const tape = new Tape(e, { grad: false });
        const x = constant(e.tensor(xs, [numNodes, 4]));
        try {
          const got = await conv.callGraph(tape, x, { graph }).value.toArray();
          const w = host(await conv.lin.weight.value.toArray(), [3, 4]);
          const want = gcnConvRef(host(xs, [numNodes, 4]), { numNodes, edgeIndex }, w, host(await conv.bias!.value.toArray(), [3]), options);
          assertClose(got, want.data, reduction(16), `${numNodes} nodes, ${edgeIndex.length / 2} edges, ${JSON.stringify(options)}`);
          // Without self-loops an isolated node reads out the bias alone; with them, its own features.
          expect(got.every(Number.isFinite)).toBe(true);
        } finally {
          tape.dispose();
          x.dispose();
          conv.dispose();
          graph.dispose();
        }
      }
    }
  });

  it('reads out 0 for graphs without nodes, and multiplies by a matrix without columns', async () => {
    const e = engine();
    const index = readoutIndex(e, new Int32Array(0), 2);
    const none = e.zeros([0, 4]);
    const a = sparseMatrix(e, cooToCsr(3, 0, new Int32Array(0), new Int32Array(0)));
    const bias = e.tensor(Float32Array.of(1, 2, 3, 4));
    try {
      for (const reduce of ['sum', 'mean', 'max'] as const) expect(Array.from(await readout(none, index, reduce).toArray())).toEqual(new Array(8).fill(0));
      expect(Array.from(await spmm(a, e.zeros([0]), none, bias).toArray())).toEqual([1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]);
    } finally {
      [none, bias].forEach((t) => t.dispose());
      a.dispose();
      index.dispose();
    }
  });

  it('refuses a graph classifier run without a readout index', () => {
    const e = engine();
    const batch = graphBatch(e, [{ numNodes: 2, edgeIndex: Int32Array.of(0, 1, 1, 0) }]);
    const model = new GraphClassifier(e, 2, 2, { hidden: 4, layers: 1 });
    const tape = new Tape(e);
    const x = constant(e.zeros([2, 2]));
    try {
      expect(errorOf(() => model.callGraph(tape, x, { graph: batch.graph }))).toBe(
        'GraphClassifier: needs a readout index (which graph each node belongs to): use graphBatch',
      );
    } finally {
      tape.dispose();
      x.dispose();
      model.dispose();
      batch.dispose();
    }
  });
});
