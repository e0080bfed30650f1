import { addInPlace, copyOf } from '../ops/elementwise.js';
import { Tensor, type DType, type Shape } from '../runtime/tensor.js';

/**
 * How a recorded op turns the gradient of its output into gradients of its inputs. `needs[i]`
 * says whether input i requires a gradient; the result holds, for each input that does, a tensor
 * the tape then owns (whose storage no other live tensor shares), and undefined elsewhere.
 * `gradOut` belongs to the tape: a rule must not dispose it, and returns a view of it only where
 * it passes it through unchanged.
 */
export type BackwardRule = (gradOut: Tensor, needs: readonly boolean[]) => Array<Tensor | undefined>;

/** One recorded differentiable call: which variables went in, which came out, how to go back. */
export interface Node {
  readonly op: string;
  /** Per operand: the variable it came from, or undefined (absent, or a plain tensor that needs no gradient). */
  readonly inputs: ReadonlyArray<Variable | undefined>;
  /** Per operand: whether a gradient can flow into it. */
  readonly differentiable: readonly boolean[];
  readonly backward: BackwardRule;
  /**
   * The same for an implicit gradient of ones (the seed of a backward pass from a scalar), where
   * the op can skip materialising it (cross-entropy hands over the gradient it already computed).
   */
  readonly backwardFromOnes?: (needs: readonly boolean[]) => Array<Tensor | undefined>;
  /** Tensors kept only for the backward pass (indices, saved statistics), freed once it ran. */
  readonly saved: Record<string, Tensor<DType>>;
  /** The tape that recorded the node. */
  readonly owner: object;
}

/** Called with a variable's gradient once the backward pass has it complete (borrowed: copy to keep it). */
export type GradientHook = (grad: Tensor) => void;

export interface VariableOptions {
  requiresGrad?: boolean;
  name?: string;
}

/**
 * What a Variable holds while a forward pass is traced into a graph (src/autograd/trace.ts): a
 * shape and no data. Module code may read its shape; reading its value is an error.
 */
export interface Placeholder {
  readonly shape: Shape;
  /** What it stands for, in errors: "the output of graph node 'layer1.0.conv1' (conv2d)". */
  readonly description: string;
}

/**
 * A tensor in a differentiable computation. Leaves are created by the user (parameters, inputs);
 * the others come out of a Tape's ops and remember the node that made them. `grad` is filled by
 * Tape.backward on leaves that require a gradient (accumulating, as PyTorch's .grad does).
 */
export class Variable {
  grad: Tensor | undefined;
  name: string | undefined;
  private requires: boolean;
  private readonly hooks: GradientHook[] = [];
  private retaining = false;
  private readonly content: Tensor | Placeholder;

  constructor(
    value: Tensor | Placeholder,
    options: VariableOptions = {},
    /** The recorded op that produced this variable; undefined for leaves and unrecorded results. */
    readonly creator?: Node,
  ) {
    this.content = value;
    this.requires = options.requiresGrad ?? false;
    this.name = options.name;
  }

  /** The tensor; a traced variable (a placeholder) has none. */
  get value(): Tensor {
    if (this.content instanceof Tensor) return this.content;
    throw new Error(`${this.content.description} is traced: it has a shape and no data until the graph runs`);
  }

  /** What a traced variable stands for; undefined for one that holds a tensor. */
  get placeholder(): Placeholder | undefined {
    return this.content instanceof Tensor ? undefined : this.content;
  }

  get requiresGrad(): boolean {
    return this.requires;
  }

  /** Freezes (false) or unfreezes (true) a leaf; a frozen leaf gets no gradient and drops the one it had. */
  set requiresGrad(value: boolean) {
    if (this.creator) throw new Error('requiresGrad can only be changed on leaf variables (parameters and inputs)');
    this.requires = value;
    if (!value) this.clearGrad();
  }

  get isLeaf(): boolean {
    return this.creator === undefined;
  }

  /**
   * Calls `hook` with this variable's gradient when a backward pass has computed it (for a
   * non-leaf: once every op that read it has sent its share). Returns a function that removes it.
   */
  registerHook(hook: GradientHook): () => void {
    if (!this.requires) throw new Error("cannot register a hook on a variable that doesn't require a gradient");
    if (this.isLeaf) throw new Error('registerHook is for intermediate variables; a leaf accumulates its gradient in .grad');
    this.hooks.push(hook);
    return () => {
      const i = this.hooks.indexOf(hook);
      if (i >= 0) this.hooks.splice(i, 1);
    };
  }

  /**
   * Keeps this intermediate variable's gradient in `.grad` after a backward pass, as PyTorch's
   * retain_grad() does (leaves keep theirs anyway). The gradient is a copy the variable owns.
   */
  retainGrad(): void {
    if (this.isLeaf && this.requires) return;
    if (this.retaining) return;
    this.retaining = true;
    this.registerHook((grad) => {
      if (this.grad) {
        addInPlace(this.grad, grad);
      } else {
        this.grad = copyOf(grad);
      }
    });
  }

  /** The hooks to call with this variable's complete gradient (the Tape calls them). */
  get gradientHooks(): readonly GradientHook[] {
    return this.hooks;
  }

  get shape(): Shape {
    return this.content.shape;
  }

  /** Drops the gradient (returning its buffer to the pool). */
  clearGrad(): void {
    this.grad?.dispose();
    this.grad = undefined;
  }

  /** Frees the value and the gradient. */
  dispose(): void {
    this.clearGrad();
    if (this.content instanceof Tensor) this.content.dispose();
  }
}

/** A leaf that requires a gradient: a trainable parameter. */
export function parameter(value: Tensor, name?: string): Variable {
  return new Variable(value, { requiresGrad: true, name });
}

/** A leaf that requires no gradient: data flowing into the model. */
export function constant(value: Tensor, name?: string): Variable {
  return new Variable(value, { requiresGrad: false, name });
}
