// A module's forward pass run as its inference graph when none of its parameters needs a gradient
// (a frozen backbone's block, or any block on a tape that records nothing): traced
// (src/autograd/trace.ts), rewritten as every graph is (batch norms folded into the convolutions,
// residual adds and ReLUs into their epilogues, the registry's fusion rules: src/graph/rewrite.ts)
// and applied on the tape op by op (runGraph). When its input needs a gradient (a block after the
// layer Grad-CAM explains), the tape records those ops: the folded graph computes the same
// function, so the gradient reaching the input is the same, through fewer kernels. Modules have no
// fusions of their own: the graph rewrite and Sequential's rules (the same ones) are the only ones.
import type { Tape } from '../autograd/tape.js';
import { runGraph, traceModule, TrainingModeError } from '../autograd/trace.js';
import type { Variable } from '../autograd/variable.js';
import type { Graph } from '../graph/graph.js';
import { rewriteForInference } from '../graph/rewrite.js';
import type { Tensor } from '../runtime/tensor.js';
import type { Module } from './module.js';

const ids = new WeakMap<Tensor, number>();
let lastId = 0;
const idOf = (t: Tensor): number => {
  let id = ids.get(t);
  if (id === undefined) ids.set(t, (id = ++lastId));
  return id;
};

/** What makes two traces the same graph: their ops, options, wiring and constant tensors (shapes aside). */
function graphKey(graph: Graph): string {
  return graph.nodes.map((n) => `${n.op}(${n.inputs.map((i) => i?.id ?? '-').join(',')})${JSON.stringify(n.options)}${n.tensor ? `#${idOf(n.tensor)}` : ''}`).join(';');
}

/**
 * The inference-graph path of one module. The rewritten graph of a module whose parameters are all
 * frozen is kept (with its folded weights) for the next calls: no optimiser changes a parameter
 * without a gradient. Kept graphs are dropped when the module runs as itself, when its trace
 * changes (another mode, other tensors) and by forget() (call it after writing into its weights
 * or running statistics, as loading a state dict does). Trainable weights on a tape that records
 * nothing (evaluation between steps) are folded afresh each time.
 */
export class FrozenGraph {
  private kept: { key: string; graph: Graph; owned: Tensor[] } | undefined;

  constructor(private readonly module: Module) {}

  /**
   * The module's output for x: its graph's when its forward pass trains nothing and can be a
   * graph, else `plain()` (its forward pass as written). Running plainly drops the kept graph
   * (the weights may be about to train), except while tracing (the trace is of this very pass).
   */
  forward(tape: Tape, x: Variable, plain: () => Variable): Variable {
    if (this.applies(tape)) {
      const y = this.run(tape, x);
      if (y) return y;
    } else if (!tape.isTracing) {
      this.forget();
    }
    return plain();
  }

  /** Whether the module's forward pass on the tape trains no parameter and has no hook inside it, so it may run as its graph. */
  private applies(tape: Tape): boolean {
    if (tape.isTracing) return false;
    if (tape.gradEnabled && this.module.parameters().some((p) => p.requiresGrad)) return false;
    return !this.module.namedModules().some(([name, m]) => name !== '' && m.hasHooks);
  }

  /**
   * The module's output for x computed by its rewritten graph, or undefined when its forward pass
   * cannot be a graph (a layer in training mode: batch statistics, dropout).
   */
  private run(tape: Tape, x: Variable): Variable | undefined {
    let trace: Graph;
    try {
      trace = traceModule(this.module, { name: 'x', shape: x.shape });
    } catch (err) {
      if (!(err instanceof TrainingModeError)) throw err;
      this.forget();
      return undefined;
    }
    const frozen = !this.module.parameters().some((p) => p.requiresGrad);
    const key = graphKey(trace);
    let prepared = frozen && this.kept?.key === key ? this.kept : undefined;
    if (!prepared) {
      this.forget();
      const { graph, owned } = rewriteForInference(trace);
      prepared = { key, graph, owned };
      if (frozen) this.kept = prepared;
    }
    try {
      return runGraph(tape, prepared.graph, { x }).output!;
    } finally {
      // Weights folded for this call alone are freed once recorded: the pool hands their buffers only to work recorded after it.
      if (prepared !== this.kept) for (const t of prepared.owned) t.dispose();
    }
  }

  /** Drops the kept graph and its folded weights. */
  forget(): void {
    for (const t of this.kept?.owned ?? []) t.dispose();
    this.kept = undefined;
  }
}
