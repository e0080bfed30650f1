// Graph convolution benchmark: our sparse ops beside TensorFlow.js's WebGPU backend on the same
// adapter in the same process, and PyTorch on the CPU (torch.sparse.mm) as a native reference.
// Measures and prints; never a test. See bench/README.md.
//
//   npx tsx bench/gcn.ts [--sizes 10k,100k] [--reps N] [--budget SECONDS] [--no-torch]   (--sizes 1k: a quick check)
//
// For each SBM graph (seeded stochastic block model, 8 communities, 64 features; "10k" = 10,000
// nodes and 100,000 directed edges, "100k" = 100,000 nodes and 1,000,000), self-loops added and
// normalised as GCNConv does (D^-1/2 (A + I) D^-1/2, computed once on our GPU and shared by all):
//   spmm   out = Â X, X [nodes, 64]. Ours: `spmm` (CSR, row-parallel, vec4). tfjs: the message-passing
//          form it offers, unsortedSegmentSum(gather(X, source) * weight, target), in chunks of 2^18
//          edges whose gathered rows stay under the 128 MiB binding limit (tfjs returns stale data
//          past it) and within its dispatch-size limit.
//          PyTorch: torch.sparse.mm on a coalesced COO tensor, float32, every CPU thread.
//   epoch  one full-batch training epoch of a 2-layer GCN (64 -> 64 -> 8, ReLU, no dropout): forward,
//          mean cross-entropy over all nodes, backward, Adam (lr 0.01), from the same initial weights.
// ours and tfjs run as alternating pairs (bench/timing.ts); GB/s counts the bytes one SpMM moves
// when it gathers a row of X per edge: rowPtr, colIdx, values, nnz rows of X, and the output.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type * as TfCore from '@tensorflow/tfjs-core';
import { Tape } from '../src/autograd/tape.js';
import { constant, type Variable } from '../src/autograd/variable.js';
import { csrRowIndex } from '../src/data/graphs/csr.js';
import { propagationCsr } from '../src/data/graphs/propagation.js';
import { stochasticBlockModel, type StochasticBlockModel } from '../src/data/graphs/sbm.js';
import { nodeGpu } from '../src/gpu/node-gpu.js';
import { GcnGraph } from '../src/nn/gcn-graph.js';
import { GCN } from '../src/nn/gcn.js';
import { Rng } from '../src/nn/init.js';
import { spmm } from '../src/ops/sparse.js';
import { Adam } from '../src/optim/adam.js';
import { Engine } from '../src/runtime/engine.js';
import type { Tensor } from '../src/runtime/tensor.js';
import { loadTfjs, type Tf, type TfjsPeer } from './tfjs-peer.js';
import { paired, summarise, timeOnce, type PairedResult, type Summary, type Workload } from './timing.js';
import { registerTfjsGradients } from './tfjs-peer.js';
import { integerOption } from './args.js';

// 1k: a quick check that everything runs (not one of the reported sizes).
const SIZES = { '1k': { nodes: 1_000, edges: 10_000 }, '10k': { nodes: 10_000, edges: 100_000 }, '100k': { nodes: 100_000, edges: 1_000_000 } } as const;
type SizeName = keyof typeof SIZES;
const FEATURES = 64;
const HIDDEN = 64;
const CLASSES = 8;
const LR = 0.01;
/**
 * Edges per tfjs chunk: its gathered rows (64 MiB at 64 features) stay well under the 128 MiB
 * storage-binding limit, and its unsortedSegmentSum's transpose within the dispatch-size limit
 * (1.1M edges of 8 features in one chunk fail: "Dispatch size exceeds WebGPU limits").
 */
const TFJS_CHUNK_EDGES = 2 ** 18;

const USAGE = 'usage: npx tsx bench/gcn.ts [--sizes 1k,10k,100k] [--reps N] [--budget SECONDS] [--no-torch]';

interface Options {
  sizes: SizeName[];
  reps: number;
  budgetSeconds: number;
  torch: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({ args: argv, options: { sizes: { type: 'string' }, reps: { type: 'string' }, budget: { type: 'string' }, 'no-torch': { type: 'boolean' } } });
  const sizes = (values.sizes ?? '10k,100k').split(',').map((s) => s.trim());
  for (const s of sizes) if (!(s in SIZES)) throw new Error(`--sizes: unknown size '${s}', expected ${Object.keys(SIZES).join(', ')}\n${USAGE}`);
  const int = integerOption(USAGE);
  return { sizes: sizes as SizeName[], reps: int('reps', values.reps, 10), budgetSeconds: int('budget', values.budget, 60), torch: !values['no-torch'] };
}

// ---- the graph, normalised once --------------------------------------------------------------

interface BenchGraph {
  data: StochasticBlockModel;
  gcn: GcnGraph;
  /** The normalised adjacency's slots (rows = targets), as the host sees them. */
  rows: Int32Array;
  cols: Int32Array;
  values: Float32Array;
  rowPtr: Int32Array;
}

async function benchGraph(engine: Engine, size: SizeName): Promise<BenchGraph> {
  const { nodes, edges } = SIZES[size];
  const data = stochasticBlockModel({ nodes, communities: CLASSES, edges: edges / 2, features: FEATURES, seed: 1 });
  const gcn = GcnGraph.create(engine, data);
  const tape = new Tape(engine, { grad: false });
  const values = await gcn.values(tape, { normalize: true, addSelfLoops: true }).value.toArray();
  tape.dispose();
  const { csr } = propagationCsr(data, true); // the same slots GcnGraph built
  return { data, gcn, rows: csrRowIndex(csr), cols: csr.colIdx, values, rowPtr: csr.rowPtr };
}

/** Bytes one SpMM moves gathering a row of x per slot: indices, values, gathered rows, output. */
function spmmBytes(g: BenchGraph): number {
  const nnz = g.cols.length;
  return 4 * (g.rowPtr.length + 2 * nnz + nnz * FEATURES + g.data.numNodes * FEATURES);
}

// ---- tfjs: gather + unsortedSegmentSum -------------------------------------------------------

/** Â x in tfjs, by edge chunks (TFJS_CHUNK_EDGES). */
class TfjsPropagation {
  private readonly chunks: Array<{ src: TfCore.Tensor1D; dst: TfCore.Tensor1D; w: TfCore.Tensor2D }> = [];
  private readonly nodes: number;

  constructor(
    private readonly tf: Tf,
    g: BenchGraph,
  ) {
    const per = TFJS_CHUNK_EDGES;
    for (let a = 0; a < g.cols.length; a += per) {
      const b = Math.min(g.cols.length, a + per);
      this.chunks.push({
        src: tf.tensor1d(g.cols.subarray(a, b), 'int32'),
        dst: tf.tensor1d(g.rows.subarray(a, b), 'int32'),
        w: tf.tensor2d(g.values.subarray(a, b), [b - a, 1]),
      });
    }
    this.nodes = g.data.numNodes;
  }

  apply(x: TfCore.Tensor2D): TfCore.Tensor2D {
    const tf = this.tf;
    return tf.tidy(() => {
      let out: TfCore.Tensor2D | undefined;
      for (const c of this.chunks) {
        const part = tf.unsortedSegmentSum(tf.mul(tf.gather(x, c.src), c.w), c.dst, this.nodes) as TfCore.Tensor2D;
        out = out ? (tf.add(out, part) as TfCore.Tensor2D) : part;
      }
      return out!;
    });
  }

  get chunkCount(): number {
    return this.chunks.length;
  }

  dispose(): void {
    for (const c of this.chunks) [c.src, c.dst, c.w].forEach((t) => t.dispose());
  }
}

// ---- the training epoch on both sides ---------------------------------------------------------

interface InitialWeights {
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
}

class OurEpoch {
  readonly model: GCN;
  private readonly adam: Adam;
  private readonly x: Variable;
  private readonly target: Tensor<'int32'>;

  constructor(
    private readonly engine: Engine,
    private readonly g: BenchGraph,
  ) {
    this.model = new GCN(engine, FEATURES, CLASSES, { hidden: HIDDEN, dropout: 0, rng: new Rng(3) });
    this.adam = new Adam(this.model.parameters(), { lr: LR });
    this.x = constant(engine.tensor(g.data.features, [g.data.numNodes, FEATURES]));
    this.target = engine.tensor(g.data.labels);
  }

  async initialWeights(): Promise<InitialWeights> {
    const p = this.model;
    return {
      w1: await p.conv1.lin.weight.value.toArray(),
      b1: await p.conv1.bias!.value.toArray(),
      w2: await p.conv2.lin.weight.value.toArray(),
      b2: await p.conv2.bias!.value.toArray(),
    };
  }

  /** Records one epoch; returns its loss (the caller frees it). */
  step(): Tensor {
    const tape = new Tape(this.engine);
    try {
      const loss = tape.keep(tape.crossEntropy(this.model.callGraph(tape, this.x, { graph: this.g.gcn }), this.target));
      this.adam.zeroGrad();
      tape.backward(loss);
      this.adam.step();
      return loss.value;
    } finally {
      tape.dispose();
    }
  }

  dispose(): void {
    this.adam.dispose();
    this.model.dispose();
    this.x.dispose();
    this.target.dispose();
  }
}

/** [out, in] row-major as tfjs's [in, out]. */
function transposed(w: Float32Array, out: number, inF: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) t[i * out + o] = w[o * inF + i]!;
  return t;
}

class TfjsEpoch {
  private readonly vars: TfCore.Variable[];
  private readonly x: TfCore.Tensor2D;
  private readonly oneHot: TfCore.Tensor2D;
  private readonly optimizer: TfCore.AdamOptimizer;

  constructor(
    private readonly tf: Tf,
    g: BenchGraph,
    w: InitialWeights,
    private readonly prop: TfjsPropagation,
  ) {
    this.vars = [
      tf.variable(tf.tensor2d(transposed(w.w1, HIDDEN, FEATURES), [FEATURES, HIDDEN])),
      tf.variable(tf.tensor1d(w.b1)),
      tf.variable(tf.tensor2d(transposed(w.w2, CLASSES, HIDDEN), [HIDDEN, CLASSES])),
      tf.variable(tf.tensor1d(w.b2)),
    ];
    this.x = tf.tensor2d(g.data.features, [g.data.numNodes, FEATURES]);
    const labels = tf.tensor1d(g.data.labels, 'int32');
    this.oneHot = tf.oneHot(labels, CLASSES) as TfCore.Tensor2D;
    labels.dispose();
    this.optimizer = tf.train.adam(LR, 0.9, 0.999, 1e-8);
  }

  step(returnLoss: boolean): TfCore.Scalar | null {
    const tf = this.tf;
    const [w1, b1, w2, b2] = this.vars as [TfCore.Variable, TfCore.Variable, TfCore.Variable, TfCore.Variable];
    return this.optimizer.minimize(
      () => {
        const h = tf.relu(tf.add(this.prop.apply(tf.matMul(this.x, w1 as unknown as TfCore.Tensor2D)), b1)) as TfCore.Tensor2D;
        const logits = tf.add(this.prop.apply(tf.matMul(h, w2 as unknown as TfCore.Tensor2D)), b2) as TfCore.Tensor2D;
        return tf.losses.softmaxCrossEntropy(this.oneHot, logits) as TfCore.Scalar;
      },
      returnLoss,
      this.vars,
    );
  }

  dispose(): void {
    this.optimizer.dispose();
    for (const v of this.vars) v.dispose();
    this.x.dispose();
    this.oneHot.dispose();
  }
}

// ---- PyTorch --------------------------------------------------------------------------------

interface TorchResult {
  spmm_ms: number;
  epoch_ms: number;
  spmm_reps: number;
  epoch_reps: number;
  losses: number[];
  threads: number;
  torch: string;
}

function runTorch(g: BenchGraph, w: InitialWeights, reps: number): TorchResult | string {
  const dir = mkdtempSync(join(tmpdir(), 'gcn-bench-'));
  try {
    const bytes = (a: Int32Array | Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({ nodes: g.data.numNodes, features: FEATURES, hidden: HIDDEN, classes: CLASSES, nnz: g.cols.length, lr: LR }));
    for (const [name, a] of [['rows.i32', g.rows], ['cols.i32', g.cols], ['values.f32', g.values], ['x.f32', g.data.features], ['labels.i32', g.data.labels], ['w1.f32', w.w1], ['b1.f32', w.b1], ['w2.f32', w.w2], ['b2.f32', w.b2]] as const) {
      writeFileSync(join(dir, name), bytes(a));
    }
    const script = new URL('./gcn_torch.py', import.meta.url).pathname;
    const out = execFileSync('/usr/bin/python3', [script, dir, String(reps)], { encoding: 'utf8', maxBuffer: 1 << 20 });
    return JSON.parse(out.trim().split('\n').at(-1)!) as TorchResult;
  } catch (err) {
    return `PyTorch run failed: ${(err as Error).message.split('\n')[0]}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- measuring ------------------------------------------------------------------------------

/** Our adapter's copy bandwidth (copyBufferToBuffer of 64 MiB: read + write bytes per second), GB/s. */
async function copyBandwidth(engine: Engine): Promise<number> {
  const bytes = 64 * 2 ** 20;
  const a = engine.zeros([bytes / 4]);
  const b = engine.zeros([bytes / 4]);
  await engine.sync();
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    engine.copy(a.buffer, b.buffer, bytes);
    await engine.sync();
    times.push(performance.now() - t0);
  }
  a.dispose();
  b.dispose();
  return (2 * bytes) / (summarise(times).median / 1000) / 1e9;
}

/** Host memcpy bandwidth (Buffer.copy of 256 MiB: read + write), GB/s. */
function hostBandwidth(): number {
  const n = 256 * 2 ** 20;
  const [a, b] = [Buffer.alloc(n, 1), Buffer.alloc(n)];
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    a.copy(b);
    times.push(performance.now() - t0);
  }
  return (2 * n) / (summarise(times).median / 1000) / 1e9;
}

const ms = (s: Summary) => `${s.median.toFixed(1)} ±${(((s.q3 - s.q1) / 2 / s.median) * 100).toFixed(0)}%`;

interface Row {
  size: SizeName;
  what: 'spmm' | 'epoch';
  timing: PairedResult;
  torch?: number;
  bytes?: number;
  agreement: string;
}

async function benchSize(engine: Engine, peer: TfjsPeer, size: SizeName, o: Options, log: (s: string) => void): Promise<Row[]> {
  const tf = peer.tf;
  const g = await benchGraph(engine, size);
  const nnz = g.cols.length;
  log(`${size}: ${g.data.numNodes} nodes, ${nnz - g.data.numNodes} edges + ${g.data.numNodes} self-loops, ${FEATURES} features`);
  const rows: Row[] = [];
  const wait = { ours: () => engine.sync(), tfjs: () => peer.sync() };
  const pairOptions = { reps: o.reps, warmup: 1, repeat: 1, budgetSeconds: o.budgetSeconds, minReps: 3 };

  // SpMM.
  const a = g.gcn.structure(true).matrix;
  const values = engine.tensor(g.values);
  const x = engine.tensor(g.data.features, [g.data.numNodes, FEATURES]);
  const tx = tf.tensor2d(g.data.features, [g.data.numNodes, FEATURES]);
  const prop = new TfjsPropagation(tf, g);
  try {
    const oursOut = await spmm(a, values, x).toArray();
    const tfOut = tf.tidy(() => prop.apply(tx));
    const theirs = (await tfOut.data()) as Float32Array;
    tfOut.dispose();
    let maxDiff = 0;
    let maxAbs = 0;
    for (let i = 0; i < oursOut.length; i++) [maxDiff, maxAbs] = [Math.max(maxDiff, Math.abs(oursOut[i]! - theirs[i]!)), Math.max(maxAbs, Math.abs(theirs[i]!))];
    // Float64 check of 64 sampled rows.
    let spot = 0;
    for (let k = 0; k < 64; k++) {
      const r = Math.floor((k * g.data.numNodes) / 64);
      for (let f = 0; f < FEATURES; f++) {
        let sum = 0;
        for (let s = g.rowPtr[r]!; s < g.rowPtr[r + 1]!; s++) sum += g.values[s]! * g.data.features[g.cols[s]! * FEATURES + f]!;
        spot = Math.max(spot, Math.abs(oursOut[r * FEATURES + f]! - sum), Math.abs(theirs[r * FEATURES + f]! - sum));
      }
    }
    const agreement = `max|diff| ${maxDiff.toExponential(1)} of ${maxAbs.toFixed(1)}, vs f64 ${spot.toExponential(1)}; tfjs in ${prop.chunkCount} chunk(s)`;
    const ours: Workload<Tensor> = { record: () => spmm(a, values, x), finish: wait.ours, release: (t) => t.dispose() };
    const theirsW: Workload<TfCore.Tensor> = { record: () => prop.apply(tx), finish: wait.tfjs, release: (t) => t.dispose() };
    log(`  spmm: first calls ${(await timeOnce(ours)).toFixed(0)} ms ours, ${(await timeOnce(theirsW)).toFixed(0)} ms tfjs; ${agreement}`);
    const timing = await paired(ours, theirsW, pairOptions);
    log(`  spmm: ours ${ms(timing.a)} ms, tfjs ${ms(timing.b)} ms`);
    rows.push({ size, what: 'spmm', timing, bytes: spmmBytes(g), agreement });

    // Training epoch.
    const ourEpoch = new OurEpoch(engine, g);
    const weights = await ourEpoch.initialWeights();
    const tfEpoch = new TfjsEpoch(tf, g, weights, prop);
    try {
      const first: number[] = [];
      const tfFirst: number[] = [];
      for (let i = 0; i < 2; i++) {
        const l = ourEpoch.step();
        first.push((await l.toArray())[0]!);
        l.dispose();
        const t = tfEpoch.step(true)!;
        tfFirst.push(((await t.data()) as Float32Array)[0]!);
        t.dispose();
      }
      const epochAgreement = `first losses ours ${first.map((v) => v.toFixed(5)).join(', ')}, tfjs ${tfFirst.map((v) => v.toFixed(5)).join(', ')}`;
      log(`  epoch: ${epochAgreement}`);
      const oursE: Workload<Tensor> = { record: () => ourEpoch.step(), finish: wait.ours, release: (t) => t.dispose() };
      const theirsE: Workload<TfCore.Scalar | null> = { record: () => tfEpoch.step(false), finish: wait.tfjs, release: () => {} };
      const epochTiming = await paired(oursE, theirsE, { ...pairOptions, reps: Math.max(3, Math.ceil(o.reps / 2)) });
      log(`  epoch: ours ${ms(epochTiming.a)} ms, tfjs ${ms(epochTiming.b)} ms`);
      const epochRow: Row = { size, what: 'epoch', timing: epochTiming, agreement: epochAgreement };
      rows.push(epochRow);
      if (o.torch) {
        const t = runTorch(g, weights, o.reps);
        if (typeof t === 'string') log(`  ${t}`);
        else {
          rows[rows.length - 2]!.torch = t.spmm_ms;
          epochRow.torch = t.epoch_ms;
          epochRow.agreement += `, torch ${t.losses.map((v) => v.toFixed(5)).join(', ')} (torch ${t.torch}, ${t.threads} threads)`;
          log(`  torch: spmm ${t.spmm_ms.toFixed(1)} ms, epoch ${t.epoch_ms.toFixed(1)} ms`);
        }
      }
    } finally {
      ourEpoch.dispose();
      tfEpoch.dispose();
    }
  } finally {
    prop.dispose();
    tx.dispose();
    x.dispose();
    values.dispose();
    g.gcn.dispose();
  }
  return rows;
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const loadBefore = loadavg()[0]!;
  const gpu = await nodeGpu();
  const engine = await Engine.create({ gpu });
  const peer = await loadTfjs(gpu);
  await registerTfjsGradients();
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const gpuCopy = await copyBandwidth(engine);
  const hostCopy = hostBandwidth();
  const rows: Row[] = [];
  for (const size of o.sizes) rows.push(...(await benchSize(engine, peer, size, o, log)));
  console.log(`adapter:   ${engine.adapterName} (tfjs's device: ${peer.adapter}, same GPU object)`);
  console.log(`machine:   ${availableParallelism()} CPUs; 1-min load average ${loadBefore.toFixed(1)} at start, ${loadavg()[0]!.toFixed(1)} at end (shared machine)`);
  console.log(`peers:     TensorFlow.js ${peer.version} WebGPU (gather + unsortedSegmentSum); PyTorch CPU torch.sparse.mm (bench/gcn_torch.py)`);
  console.log(`bandwidth: ${gpuCopy.toFixed(1)} GB/s our adapter's buffer copy (64 MiB, read + write); ${hostCopy.toFixed(1)} GB/s host memcpy (256 MiB)`);
  console.log('');
  const header = ['graph', 'op', 'ours ms', 'tfjs ms', 'tfjs/ours', 'torch ms', 'ours GB/s', 'pairs'];
  const table = rows.map((r) => [
    `${r.size} (${SIZES[r.size].edges / 1000}k edges)`,
    r.what,
    ms(r.timing.a),
    ms(r.timing.b),
    r.timing.ratio.median.toFixed(2),
    r.torch === undefined ? '-' : r.torch.toFixed(1),
    r.bytes === undefined ? '-' : (r.bytes / (r.timing.a.median / 1000) / 1e9).toFixed(2),
    `${r.timing.samplesA.length}${r.timing.truncated ? '*' : ''}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  for (const row of [header, ...table]) console.log(row.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  console.log('');
  for (const r of rows) console.log(`${r.size} ${r.what}: ${r.agreement}`);
  console.log('');
  console.log('ms: median ±half the interquartile range; tfjs/ours: median of per-pair ratios (>1: ours faster); GB/s: bytes an SpMM');
  console.log('moves gathering one row of X per edge (indices, values, gathered rows, output) over our median time; * = budget cut.');
  engine.dispose();
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack ?? err.message : String(err));
  process.exit(1);
});
