// The bookkeeping of reverse-mode autodiff: which ops were recorded, the backward traversal,
// gradient accumulation and the ownership of every tensor the tape made. The differentiable ops
// themselves are the Tape's methods (tape.ts).
import { OpError, fail } from '../ops/check.js';
import { addInPlace } from '../ops/elementwise.js';
import type { Engine } from '../runtime/engine.js';
import { isDifferentiable, type AnyTensor, type Checked, type Op, type Operands } from '../ops/registry.js';
import { Tensor, shapeString } from '../runtime/tensor.js';
import { Variable, type Node } from './variable.js';

export interface TapeOptions {
  /** false records nothing, as under torch.no_grad() (evaluation); default true. */
  grad?: boolean;
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/** Frees what a node saved for its backward pass (what a rule took out of `saved` is the rule's). */
function freeSaved(node: Node): void {
  for (const [key, t] of Object.entries(node.saved)) {
    t.dispose();
    delete node.saved[key];
  }
}

/** A gradient waiting to be consumed: a tensor the tape owns, or the implicit ones of the seed. */
type Pending = Tensor | 'ones';

export class Recorder {
  readonly gradEnabled: boolean;
  private readonly nodes: Node[] = [];
  private readonly outputOf = new Map<Node, Variable>();
  /** Every variable a tape op returned (recorded or not): freed by dispose() unless kept. */
  private readonly created = new Set<Variable>();
  private state: 'recording' | 'done' | 'disposed' = 'recording';

  constructor(
    readonly engine: Engine,
    options: TapeOptions = {},
  ) {
    this.gradEnabled = options.grad ?? true;
  }

  /** Number of ops recorded for the backward pass. */
  get recordedOps(): number {
    return this.nodes.length;
  }

  /**
   * Whether ops only build a graph instead of running (the graph tracer). Module code that would
   * take a shortcut of its own (running a frozen block as a prepared graph) runs plainly then, so
   * that the trace holds the module's ops.
   */
  get isTracing(): boolean {
    return false;
  }

  /**
   * Called by Module.call around a module's forward pass with the module; returns what to call
   * when the pass is done, if anything. A tape needs nothing; the tracer names graph nodes after
   * the module that made them.
   */
  enterModule(_module: object): (() => void) | undefined {
    return undefined;
  }

  /**
   * Runs a registered op on variables and records it when gradients are enabled and some
   * differentiable operand requires one (a frozen or data-only branch records nothing, and the op
   * then saves nothing for a backward pass). Differentiable operands are Variables; the others
   * (running statistics, class targets) may be plain tensors.
   */
  apply<O, C extends Checked>(op: Op<O, C>, operands: ReadonlyArray<Variable | AnyTensor | undefined>, options: O): Variable {
    const name = op.name;
    if (this.state === 'disposed') fail(name, 'the tape was used after dispose()');
    const differentiable = op.operands.map(isDifferentiable);
    const variables = op.operands.map((operand, i) => {
      const v = operands[i];
      if (v instanceof Variable) {
        if (v.value.isDisposed) fail(name, `${operand.name} ${shapeString(v.value.shape)} was used after dispose()`);
        if (v.value.engine !== this.engine) fail(name, `${operand.name} belongs to a different engine than the tape`);
        if (v.creator && v.creator.owner !== this) fail(name, `${operand.name} was produced by another tape`);
        return v;
      }
      if (v !== undefined && differentiable[i]) {
        fail(name, `expected ${operand.name} to be a Variable (wrap tensors with constant() or parameter()), got ${v instanceof Tensor ? `a tensor ${shapeString(v.shape)}` : String(v)}`);
      }
      return undefined;
    });
    const values = operands.map((v) => (v instanceof Variable ? v.value : v));
    const wanted = this.gradEnabled && variables.some((v, i) => differentiable[i] && v?.requiresGrad);
    if (wanted && !op.backward) fail(name, 'the op is not differentiable, but an operand requires a gradient');
    const { output, saved = {}, checked } = op.apply(values, options, wanted);
    if (!wanted) {
      for (const t of Object.values(saved)) t.dispose();
      const v = new Variable(output);
      this.created.add(v);
      return v;
    }
    const args = { inputs: values as Operands, output, saved, options, checked };
    const node: Node = {
      op: name,
      inputs: variables.map((v, i) => (differentiable[i] ? v : undefined)),
      differentiable,
      backward: (gradOut, needs) => op.backward!({ ...args, gradOut, needs }),
      backwardFromOnes: op.backwardFromOnes && ((needs) => op.backwardFromOnes!({ ...args, needs })),
      saved,
      owner: this,
    };
    const v = new Variable(output, { requiresGrad: true }, node);
    this.nodes.push(node);
    this.outputOf.set(node, v);
    this.created.add(v);
    return v;
  }

  /**
   * Computes the gradients of `loss` with respect to every leaf that requires one and ADDS them
   * to the leaves' `.grad` (PyTorch's accumulation; clear with optimizer.zeroGrad()). A scalar
   * loss is seeded with 1; otherwise pass `gradient`, shaped like the loss (copied, not kept).
   * Nodes run in reverse recording order (a topological order); only those on a path to the loss
   * run. Each intermediate gradient is freed as soon as its node consumed it, and each node's
   * saved tensors right after its backward ran. Everything is recorded; nothing is submitted.
   * A tape goes backward once.
   */
  backward(loss: Variable, gradient?: Tensor): void {
    const op = 'backward';
    if (this.state === 'disposed') fail(op, 'the tape was used after dispose()');
    if (this.state === 'done') {
      fail(op, 'trying to backward through the graph a second time (the saved tensors were already freed); record a new tape');
    }
    if (!loss.requiresGrad || !loss.creator) fail(op, 'element 0 of tensors does not require grad and does not have a grad_fn');
    if (loss.creator.owner !== this) fail(op, 'the loss was recorded by another tape');
    let seed: Pending = 'ones';
    if (gradient) {
      if (!sameShape(gradient.shape, loss.shape)) {
        fail(op, `gradient of shape ${shapeString(gradient.shape)} does not match the loss ${shapeString(loss.shape)}`);
      }
      seed = this.engine.empty(gradient.shape);
      if (gradient.size > 0) this.engine.copy(gradient, seed, gradient.size * 4);
    } else if (loss.value.size !== 1) {
      fail(op, `grad can be implicitly created only for scalar outputs, got a loss of shape ${shapeString(loss.shape)}`);
    }
    this.state = 'done';

    const reachable = new Set<Node>();
    const stack: Node[] = [loss.creator];
    while (stack.length > 0) {
      const node = stack.pop()!;
      if (reachable.has(node)) continue;
      reachable.add(node);
      for (const input of node.inputs) if (input?.creator && input.requiresGrad) stack.push(input.creator);
    }

    const pending = new Map<Variable, Pending>([[loss, seed]]);
    try {
      for (let k = this.nodes.length - 1; k >= 0; k--) {
        const node = this.nodes[k]!;
        if (!reachable.has(node)) continue;
        const out = this.outputOf.get(node)!;
        const g = pending.get(out);
        if (g === undefined) continue;
        pending.delete(out);
        this.callHooks(out, g);
        const needs = node.inputs.map((v) => v?.requiresGrad ?? false);
        const grads = this.runRule(node, out, g, needs);
        freeSaved(node);
        node.inputs.forEach((input, i) => this.deliver(node, input, needs[i]!, grads[i], pending));
      }
    } finally {
      // Unconsumed gradients (all of them when a rule throws) are freed.
      for (const g of pending.values()) if (g !== 'ones') g.dispose();
    }
  }

  /** Hands a non-leaf's complete gradient to its hooks (retainGrad is one). */
  private callHooks(v: Variable, g: Pending): void {
    if (v.gradientHooks.length === 0) return;
    const grad = g === 'ones' ? this.engine.tensor(new Float32Array(v.value.size).fill(1), v.shape) : g;
    try {
      for (const hook of v.gradientHooks) hook(grad);
    } finally {
      if (grad !== g) grad.dispose();
    }
  }

  private runRule(node: Node, out: Variable, g: Pending, needs: boolean[]): Array<Tensor | undefined> {
    if (g !== 'ones') {
      try {
        return node.backward(g, needs);
      } finally {
        g.dispose(); // consumed (a pass-through result is a view and keeps the storage alive)
      }
    }
    if (node.backwardFromOnes) return node.backwardFromOnes(needs);
    const ones = this.engine.tensor(new Float32Array(out.value.size).fill(1), out.shape);
    try {
      return node.backward(ones, needs);
    } finally {
      ones.dispose();
    }
  }

  /** Hands one input's gradient to its producer (pending) or accumulates it into a leaf's .grad. */
  private deliver(node: Node, input: Variable | undefined, needed: boolean, grad: Tensor | undefined, pending: Map<Variable, Pending>): void {
    if (!needed || !input) {
      grad?.dispose();
      return;
    }
    if (!grad) throw new OpError('backward', `internal error: ${node.op} returned no gradient for an input that requires one`);
    if (!sameShape(grad.shape, input.shape)) {
      throw new OpError('backward', `internal error: ${node.op} returned a gradient of shape ${shapeString(grad.shape)} for an input of shape ${shapeString(input.shape)}`);
    }
    if (input.creator) {
      const prev = pending.get(input);
      if (prev === undefined) pending.set(input, grad);
      else {
        addInPlace(prev as Tensor, grad);
        grad.dispose();
      }
      return;
    }
    if (input.grad) {
      addInPlace(input.grad, grad);
      grad.dispose();
    } else {
      input.grad = grad;
    }
  }

  /** Takes `v` out of the tape's care: dispose() leaves its value alone and the caller owns it. */
  keep(v: Variable): Variable {
    if (!this.created.delete(v)) fail('keep', 'the variable was not created by this tape (or was already kept)');
    return v;
  }

  /**
   * Frees every tensor the tape made: the values its ops returned (except kept ones) and what
   * recorded ops saved for backward. Leaves (parameters, inputs) and their gradients stay.
   */
  dispose(): void {
    if (this.state === 'disposed') return;
    this.state = 'disposed';
    for (const node of this.nodes) freeSaved(node);
    for (const v of this.created) v.dispose();
    this.created.clear();
    this.nodes.length = 0;
    this.outputOf.clear();
  }
}
