// A graph compiled for one set of input shapes: every dispatch captured once (Engine.capture), with
// its pipelines compiled concurrently up front, its bind groups made once, and its activations in
// buffers reused by liveness (each intermediate is disposed right after its last reader, so later
// ops of the capture take its buffer). A run writes the inputs, replays the recording and reads the
// outputs back in one submission, allocating nothing.
import { getOp } from '../ops/registry.js';
import type { Engine, Recording } from '../runtime/engine.js';
import { shapeString, Tensor } from '../runtime/tensor.js';
import { Graph, GraphError, inputsOf, isLeaf, type GraphNode } from './graph.js';
import { NO_REWRITES, fuseChains, rewriteForInference, type RewriteCounts } from './rewrite.js';
import { inferShapes, type InputShapes } from './shapes.js';

export interface CompileOptions {
  /** Apply the inference rewrites (batch norm folding, epilogue fusion); default true. */
  rewrite?: boolean;
}

/** Runs one node's op on the tensors of the nodes it reads. */
function execute(node: GraphNode, t: (n: GraphNode) => Tensor): Tensor {
  if (isLeaf(node)) throw new Error(`graph: ${node.op} '${node.name}' is not computed`);
  return getOp(node.op).run(node.inputs.map((n) => n && t(n)), node.options);
}

/** The nodes the outputs depend on, in graph order (dead nodes are left out). */
function liveNodes(graph: Graph): GraphNode[] {
  const live = new Set<GraphNode>();
  const visit = (n: GraphNode) => {
    if (live.has(n)) return;
    live.add(n);
    for (const input of inputsOf(n)) visit(input);
  };
  for (const n of graph.outputs.values()) visit(n);
  for (const n of graph.inputs) live.add(n); // every input is written by run(), used or not
  return graph.nodes.filter((n) => live.has(n));
}

interface Captured {
  inputs: Map<string, Tensor>;
  outputs: Map<string, Tensor>;
  /** The graph's constants the recording binds, by node name. */
  constants: Map<string, Tensor>;
}

/**
 * Throws a GraphError naming the first disposed constant: its buffer has gone back to the pool,
 * where any later tensor may take it, so a plan binding it would read someone else's numbers.
 */
function expectConstantsAlive(constants: Iterable<[string, Tensor]>, when: string): void {
  for (const [name, tensor] of constants) {
    if (tensor.isDisposed) {
      throw new GraphError(
        `${when}: constant '${name}' ${shapeString(tensor.shape)} was disposed; a graph's constants are borrowed and must outlive the plans compiled from it`,
      );
    }
  }
}

/** The constant nodes of `nodes` whose values are on the GPU, by name. */
function constantsOf(nodes: readonly GraphNode[]): Array<[string, Tensor]> {
  return nodes.flatMap((n) => (n.op === 'constant' && n.tensor ? [[n.name, n.tensor] as [string, Tensor]] : []));
}

/**
 * The graph with its live host constants uploaded (each once; the tensors are returned in `owned`
 * for the caller to free) and its dead nodes left out.
 */
export function uploadHostConstants(engine: Engine, graph: Graph): { graph: Graph; owned: Tensor[] } {
  const nodes = liveNodes(graph);
  if (!nodes.some((n) => n.host)) return { graph, owned: [] };
  const out = new Graph();
  const owned: Tensor[] = [];
  const mapped = new Map<GraphNode, GraphNode>();
  try {
    for (const node of nodes) {
      const { id: _id, name, ...def } = node;
      if (node.host) {
        const t = engine.tensor(node.host.data, node.host.shape);
        owned.push(t);
        mapped.set(node, out.constant(name, t));
      } else {
        mapped.set(node, out.addNode({ ...def, inputs: node.inputs.map((n) => n && mapped.get(n)) }, name));
      }
    }
  } catch (err) {
    for (const t of owned) t.dispose();
    throw err;
  }
  for (const [name, node] of graph.outputs) out.output(name, mapped.get(node)!);
  return { graph: out, owned };
}

/**
 * Records every live node's op once, in order, on fresh input tensors, disposing each intermediate
 * right after its last reader so the recording's pool hands its buffer to a later op.
 */
function captureGraph(engine: Engine, graph: Graph, inputShapes: InputShapes): { value: Captured; recording: Recording } {
  const order = liveNodes(graph);
  const lastRead = new Map<GraphNode, number>();
  order.forEach((node, i) => {
    for (const input of inputsOf(node)) lastRead.set(input, i);
  });
  const kept = new Set(graph.outputs.values());
  const constants = new Map(constantsOf(order));
  expectConstantsAlive(constants, 'graph compile');
  return engine.capture(() => {
    const tensors = new Map<GraphNode, Tensor>();
    const t = (n: GraphNode) => tensors.get(n)!;
    const inputs = new Map<string, Tensor>();
    order.forEach((node, i) => {
      if (node.op === 'input') {
        const input = engine.empty(inputShapes[node.name]!, `input ${node.name}`);
        inputs.set(node.name, input);
        tensors.set(node, input);
        return;
      }
      if (node.op === 'constant') {
        tensors.set(node, node.tensor!);
        return;
      }
      let result: Tensor;
      try {
        result = execute(node, t);
      } catch (err) {
        throw new GraphError(`graph node '${node.name}' (${node.op}): ${err instanceof Error ? err.message : String(err)}`);
      }
      tensors.set(node, result);
      for (const input of new Set(inputsOf(node))) {
        const intermediate = !isLeaf(input) && !kept.has(input);
        if (intermediate && lastRead.get(input) === i) tensors.get(input)!.dispose();
      }
    });
    const outputs = new Map<string, Tensor>();
    for (const [name, node] of graph.outputs) outputs.set(name, t(node));
    return { inputs, outputs, constants };
  });
}

/** One graph compiled for one set of input shapes. Runs are serialised; each is one submission. */
export class Plan {
  readonly inputShapes: Readonly<Record<string, readonly number[]>>;
  readonly outputShapes: Readonly<Record<string, readonly number[]>>;
  /** What the inference rewrites did (all zero when they were off). */
  readonly rewrites: RewriteCounts;
  private readonly readback: GPUBuffer;
  private readonly readbackBytes: number;
  private queue: Promise<unknown> = Promise.resolve();
  private running = 0;
  private disposed = false;
  private freed = false;

  /** @param owned tensors freed with the plan (folded weights of a plan compiled on its own). */
  constructor(
    private readonly engine: Engine,
    private readonly recording: Recording,
    private readonly captured: Captured,
    rewrites: RewriteCounts,
    private readonly owned: Tensor[] = [],
  ) {
    this.rewrites = rewrites;
    this.inputShapes = Object.fromEntries([...captured.inputs].map(([n, t]) => [n, t.shape]));
    this.outputShapes = Object.fromEntries([...captured.outputs].map(([n, t]) => [n, t.shape]));
    this.readbackBytes = [...captured.outputs.values()].reduce((sum, t) => sum + t.size * 4, 0);
    // One mappable buffer for every output, kept for the plan's life: a run allocates nothing.
    this.readback = engine.device.createBuffer({
      label: 'plan readback',
      size: Math.max(4, this.readbackBytes),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
  }

  /** Dispatches per run. */
  get dispatchCount(): number {
    return this.recording.dispatchCount;
  }

  /**
   * Bytes of the activation buffers (inputs, intermediates, outputs) after liveness reuse: the
   * most the plan's ops hold at once, rounded up to the pool's buckets.
   */
  get peakBytes(): number {
    return this.recording.bytesAllocated;
  }

  /** Every GPU byte the plan owns: activations, the readback buffer, and folded weights it owns. */
  get bytesAllocated(): number {
    if (this.freed) return 0;
    return this.peakBytes + this.readback.size + this.owned.reduce((sum, t) => sum + (t.isDisposed ? 0 : t.size * 4), 0);
  }

  /**
   * Writes `inputs` (per graph input, of its compiled size: a Float32Array, or a GPU tensor copied
   * on the GPU, which must stay alive until the run resolves), runs every dispatch and returns the
   * outputs by name. Concurrent calls run one after another. A run rejects with a GraphError if a
   * constant of the graph has been disposed since the compile.
   */
  run(inputs: Readonly<Record<string, Float32Array | Tensor>>): Promise<Record<string, Float32Array>> {
    try {
      this.checkInputs(inputs);
    } catch (err) {
      return Promise.reject(err);
    }
    this.running += 1;
    const result = this.queue.then(() => this.runNow(inputs));
    this.queue = result.then(
      () => this.settled(),
      () => this.settled(),
    );
    return result;
  }

  private settled(): void {
    this.running -= 1;
    if (this.running === 0 && this.disposed) this.free();
  }

  private checkInputs(inputs: Readonly<Record<string, Float32Array | Tensor>>): void {
    if (this.disposed) throw new GraphError('Plan used after dispose()');
    for (const [name, tensor] of this.captured.inputs) {
      const data = inputs[name];
      if (data instanceof Tensor) {
        if (data.engine !== this.engine || data.isDisposed) throw new GraphError(`plan: input '${name}' is a tensor of another engine, or disposed`);
      } else if (!(data instanceof Float32Array)) {
        throw new GraphError(`plan: input '${name}' ${shapeString(tensor.shape)} needs a Float32Array or a Tensor`);
      }
      const values = data instanceof Tensor ? data.size : data.length;
      if (values !== tensor.size) {
        throw new GraphError(`plan: input '${name}' was compiled for shape ${shapeString(tensor.shape)} (${tensor.size} values), got ${values} values`);
      }
    }
    const unknown = Object.keys(inputs).filter((n) => !this.captured.inputs.has(n));
    if (unknown.length > 0) throw new GraphError(`plan: no input named ${unknown.map((n) => `'${n}'`).join(', ')}`);
  }

  private async runNow(inputs: Readonly<Record<string, Float32Array | Tensor>>): Promise<Record<string, Float32Array>> {
    const { engine } = this;
    // Checked here, just before the replay, as a run queued behind another starts only now.
    expectConstantsAlive(this.captured.constants, 'plan run');
    // queue.writeBuffer lands before the next submission; safe because the input buffers belong to
    // this plan alone and its previous run has finished (runs are serialised). A tensor input is
    // copied on the GPU, recorded ahead of the replay.
    for (const [name, tensor] of this.captured.inputs) {
      const data = inputs[name]!;
      if (data instanceof Tensor) {
        if (data.size > 0) engine.copy(data, tensor, data.size * 4);
      } else if (data.byteLength > 0) {
        engine.device.queue.writeBuffer(tensor.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
      }
    }
    engine.replay(this.recording);
    const offsets: Array<[string, number, number]> = [];
    let offset = 0;
    for (const [name, tensor] of this.captured.outputs) {
      const bytes = tensor.size * 4;
      if (bytes > 0) engine.copy(tensor, this.readback, bytes, 0, offset);
      offsets.push([name, offset, tensor.size]);
      offset += bytes;
    }
    await engine.flush();
    await this.readback.mapAsync(GPUMapMode.READ, 0, this.readback.size);
    try {
      const mapped = this.readback.getMappedRange(0, this.readback.size);
      const outputs: Record<string, Float32Array> = {};
      for (const [name, start, count] of offsets) outputs[name] = new Float32Array(mapped.slice(start, start + count * 4));
      return outputs;
    } finally {
      this.readback.unmap();
    }
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /**
   * Frees the plan's buffers: now, or when the runs already started have finished. The graph's
   * constants are not the plan's and stay.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.running === 0) this.free();
  }

  private free(): void {
    this.freed = true;
    this.recording.dispose();
    this.readback.destroy();
    for (const t of this.owned) t.dispose();
  }
}

/** Compiled plan parts that do not depend on who owns the rewritten graph. */
export interface CompileParts {
  /** The original graph, for shape inference (its node names appear in errors). */
  source: Graph;
  /** The graph that runs (the source, or its inference rewrite). */
  program: Graph;
  rewrites: RewriteCounts;
  /** Whether each plan fuses the program's chains by the fusion rules for its input shapes. */
  fuseChains: boolean;
}

/**
 * The graph a plan runs: `graph` itself, or (unless `rewrite: false`) its inference rewrite, with
 * its host constants uploaded; the tensors this made (folded and uploaded weights: `owned`) the
 * caller frees when its plans are gone.
 */
export function prepareGraph(engine: Engine, graph: Graph, options: CompileOptions = {}): { parts: CompileParts; owned: Tensor[] } {
  expectConstantsAlive(constantsOf(liveNodes(graph)), 'graph compile');
  const rewritten = options.rewrite === false ? { graph, counts: { ...NO_REWRITES }, owned: [] } : rewriteForInference(graph);
  try {
    const uploaded = uploadHostConstants(engine, rewritten.graph);
    const parts = { source: graph, program: uploaded.graph, rewrites: rewritten.counts, fuseChains: options.rewrite !== false };
    return { parts, owned: [...rewritten.owned, ...uploaded.owned] };
  } catch (err) {
    for (const t of rewritten.owned) t.dispose();
    throw err;
  }
}

/**
 * Captures `parts.program` for `inputShapes` (the caller has checked the shapes with inferShapes on
 * the source graph) and waits for its pipelines (compiled concurrently). `owned` tensors are freed
 * with the plan.
 */
export async function buildPlan(engine: Engine, parts: CompileParts, inputShapes: InputShapes, owned: Tensor[] = []): Promise<Plan> {
  if (parts.program.outputs.size === 0) throw new GraphError('graph: no outputs (mark results with graph.output(name, node))');
  const chains = parts.fuseChains ? fuseChains(parts.program, inputShapes) : { graph: parts.program, fused: 0 };
  const { value, recording } = captureGraph(engine, chains.graph, inputShapes);
  try {
    // Every pipeline compiled and run once (graph ops write their outputs, never read them).
    await engine.prime(recording);
    // Finish the work recorded before the capture (weight uploads, the fold kernels) now, so its
    // errors and its time belong to the compile, not to the first run.
    await engine.sync();
  } catch (err) {
    recording.dispose();
    throw err;
  }
  return new Plan(engine, recording, value, { ...parts.rewrites, fusedChains: chains.fused }, owned);
}

/**
 * Compiles `graph` for `inputShapes` into a Plan: shape inference (the ops' messages, naming the
 * node), the inference rewrites (unless `rewrite: false`; folded weights are computed on the GPU
 * and freed with the plan), one capture of every dispatch, all pipelines compiled up front.
 */
export async function compileGraph(engine: Engine, graph: Graph, inputShapes: InputShapes, options: CompileOptions = {}): Promise<Plan> {
  inferShapes(graph, inputShapes);
  const { parts, owned } = prepareGraph(engine, graph, options);
  try {
    return await buildPlan(engine, parts, inputShapes, owned);
  } catch (err) {
    for (const t of owned) t.dispose();
    throw err;
  }
}
