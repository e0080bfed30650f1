// A graph ready to run on any input shape: plans are compiled on first sight of a shape and cached.
// The inference rewrite (with the batch norm folding on the GPU) is done once, on the first compile,
// and shared by every plan; its folded weights belong to the executor.
import type { Engine } from '../runtime/engine.js';
import { shapeString, Tensor, type Shape } from '../runtime/tensor.js';
import { GraphError, type Graph } from './graph.js';
import { buildPlan, prepareGraph, type CompileOptions, type CompileParts, type Plan } from './plan.js';
import { inferShapes, type InputShapes } from './shapes.js';

/** One input of a run: its values and its shape. */
export interface HostInput {
  data: Float32Array;
  shape: Shape;
}

/** A cache key for a set of input shapes: names in sorted order with their shapes. */
function shapeKey(shapes: InputShapes): string {
  return Object.keys(shapes)
    .sort()
    .map((name) => `${name}:${shapeString(shapes[name]!)}`)
    .join(' ');
}

export class GraphExecutor {
  private readonly plans = new Map<string, Promise<Plan>>();
  /** The compiled plans, so dispose can free them at once. */
  private readonly ready = new Set<Plan>();
  private parts: CompileParts | undefined;
  private owned: Tensor[] = [];
  private compileCount = 0;
  private disposed = false;

  constructor(
    readonly engine: Engine,
    readonly graph: Graph,
    private readonly options: CompileOptions = {},
  ) {}

  /** Plans compiled so far (a cache hit compiles nothing). */
  get compiles(): number {
    return this.compileCount;
  }

  /** Shape sets with a plan in the cache. */
  get cachedShapes(): string[] {
    return [...this.plans.keys()];
  }

  /** The plan for these input shapes, compiled on first request and cached. */
  plan(inputShapes: InputShapes): Promise<Plan> {
    if (this.disposed) return Promise.reject(new GraphError('GraphExecutor used after dispose()'));
    const key = shapeKey(inputShapes);
    let plan = this.plans.get(key);
    if (!plan) {
      plan = this.compile(inputShapes);
      this.plans.set(key, plan);
      // A failed compile is not cached: the next request tries again (and reports the error again).
      plan.catch(() => {
        if (this.plans.get(key) === plan) this.plans.delete(key);
      });
    }
    return plan;
  }

  private async compile(inputShapes: InputShapes): Promise<Plan> {
    this.compileCount += 1;
    // Shape errors first, on the graph as written, before anything runs on the GPU.
    inferShapes(this.graph, inputShapes);
    const plan = await buildPlan(this.engine, this.prepared(), inputShapes);
    if (this.disposed) {
      plan.dispose();
      throw new GraphError('GraphExecutor disposed while compiling');
    }
    this.ready.add(plan);
    return plan;
  }

  private prepared(): CompileParts {
    if (!this.parts) ({ parts: this.parts, owned: this.owned } = prepareGraph(this.engine, this.graph, this.options));
    return this.parts;
  }

  /**
   * Runs the graph on these inputs, host arrays or GPU tensors (compiling a plan for their shapes if
   * there is none yet).
   */
  async run(inputs: Readonly<Record<string, HostInput | Tensor>>): Promise<Record<string, Float32Array>> {
    const shapes: Record<string, Shape> = {};
    const data: Record<string, Float32Array | Tensor> = {};
    for (const [name, input] of Object.entries(inputs)) {
      shapes[name] = input.shape;
      data[name] = input instanceof Tensor ? input : input.data;
    }
    const plan = await this.plan(shapes);
    return plan.run(data);
  }

  /** GPU bytes of the cached plans and the folded weights. */
  get bytesAllocated(): number {
    const planBytes = [...this.ready].reduce((sum, p) => sum + p.bytesAllocated, 0);
    return planBytes + this.owned.reduce((sum, t) => sum + (t.isDisposed ? 0 : t.size * 4), 0);
  }

  /**
   * Frees every plan (a plan with runs in flight when they finish; one still compiling when it is
   * done) and the folded weights. Call it once the runs you started have been awaited.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const plan of this.ready) plan.dispose();
    this.ready.clear();
    this.plans.clear();
    for (const t of this.owned) t.dispose();
    this.owned = [];
  }
}
