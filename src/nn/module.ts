// The Module base: parameters, buffers and children under PyTorch's dotted names, train/eval
// mode, freezing, state dicts and explicit disposal.
import type { Tape } from '../autograd/tape.js';
import type { Variable } from '../autograd/variable.js';
import { shapeString, type Tensor } from '../runtime/tensor.js';

export interface LoadStateDictOptions {
  /** Every key must match (default true); size mismatches are errors either way, as in PyTorch. */
  strict?: boolean;
}

export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export type StateDict = Map<string, Tensor>;

/**
 * Called after a module's forward pass with its input and output; returning a Variable replaces
 * the output (as PyTorch's forward hooks may), e.g. with a leaf that stops the backward pass there.
 */
export type ForwardHook = (module: Module, input: Variable, output: Variable) => Variable | void;

/** Called with the gradient of a module's output once a backward pass has it (borrowed: copy to keep it). */
export type BackwardHook = (module: Module, gradOutput: Tensor) => void;

export abstract class Module {
  /** Training mode (batch statistics, dropout) or evaluation mode. */
  training = true;
  private readonly params = new Map<string, Variable>();
  private readonly bufs = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();
  private readonly forwardHooks: ForwardHook[] = [];
  private readonly backwardHooks: BackwardHook[] = [];

  /** The module's computation on the tape (recording what needs a gradient); callers use `call`. */
  abstract forward(tape: Tape, x: Variable): Variable;

  /**
   * Runs forward, then this module's hooks: what a parent module (or a user) calls, as PyTorch's
   * module(x) does. Calling forward directly skips the hooks.
   */
  call(tape: Tape, x: Variable): Variable {
    let y = this.forward(tape, x);
    for (const hook of this.forwardHooks) y = hook(this, x, y) ?? y;
    if (this.backwardHooks.length > 0 && y.requiresGrad && !y.isLeaf) {
      const hooks = [...this.backwardHooks];
      y.registerHook((grad) => {
        for (const hook of hooks) hook(this, grad);
      });
    }
    return y;
  }

  /** Adds a forward hook (see ForwardHook); returns a function that removes it. */
  registerForwardHook(hook: ForwardHook): () => void {
    return addHook(this.forwardHooks, hook);
  }

  /**
   * Adds a hook called with the gradient of the module's output (PyTorch's full backward hook's
   * grad_output) in each backward pass through a call made after it was added. Returns a
   * function that removes it.
   */
  registerBackwardHook(hook: BackwardHook): () => void {
    return addHook(this.backwardHooks, hook);
  }

  /** Whether this module has hooks: fused paths that would skip its forward pass must not run. */
  get hasHooks(): boolean {
    return this.forwardHooks.length > 0 || this.backwardHooks.length > 0;
  }

  protected registerParameter(name: string, v: Variable): Variable {
    this.checkFree(name);
    v.name ??= name;
    this.params.set(name, v);
    return v;
  }

  protected registerBuffer(name: string, t: Tensor): Tensor {
    this.checkFree(name);
    this.bufs.set(name, t);
    return t;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    this.checkFree(name);
    this.children.set(name, m);
    return m;
  }

  private checkFree(name: string): void {
    if (name.length === 0 || name.includes('.')) throw new Error(`${this.constructor.name}: bad member name '${name}'`);
    if (this.params.has(name) || this.bufs.has(name) || this.children.has(name)) {
      throw new Error(`${this.constructor.name}: '${name}' is already registered`);
    }
  }

  /** Keys of a loaded state dict this module accepts and ignores (PyTorch buffers it does not keep). */
  protected ignoredStateKeys(): readonly string[] {
    return [];
  }

  namedChildren(): Array<[string, Module]> {
    return [...this.children];
  }

  /** This module and every descendant, depth first, with their dotted names ('' for this one). */
  namedModules(prefix = ''): Array<[string, Module]> {
    const out: Array<[string, Module]> = [[prefix, this]];
    for (const [name, child] of this.children) out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  /** Every parameter (frozen ones included) with PyTorch's dotted names: 'layer1.0.weight'. */
  namedParameters(): Array<[string, Variable]> {
    return this.namedModules().flatMap(([prefix, m]) => [...m.params].map(([n, v]): [string, Variable] => [prefix ? `${prefix}.${n}` : n, v]));
  }

  parameters(): Variable[] {
    return this.namedParameters().map(([, v]) => v);
  }

  /** Buffers (batch norm's running statistics) with their dotted names. */
  namedBuffers(): Array<[string, Tensor]> {
    return this.namedModules().flatMap(([prefix, m]) => [...m.bufs].map(([n, t]): [string, Tensor] => [prefix ? `${prefix}.${n}` : n, t]));
  }

  buffers(): Tensor[] {
    return this.namedBuffers().map(([, t]) => t);
  }

  /** Sets training mode here and below. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Freezes (false) or unfreezes (true) every parameter here and below (PyTorch's requires_grad_). */
  requiresGrad(flag: boolean): this {
    for (const p of this.parameters()) p.requiresGrad = flag;
    return this;
  }

  /** Parameters then buffers under their dotted names; the tensors are the live ones, not copies. */
  stateDict(): StateDict {
    const out: StateDict = new Map();
    for (const [name, v] of this.namedParameters()) out.set(name, v.value);
    for (const [name, t] of this.namedBuffers()) out.set(name, t);
    return out;
  }

  /**
   * Copies tensors into this module's parameters and buffers (on the GPU, recorded in order).
   * Every shape is checked before anything is copied; with strict (the default) the keys must
   * match exactly, as PyTorch's load_state_dict requires.
   */
  loadStateDict(state: StateDict | Record<string, Tensor>, options: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = options.strict ?? true;
    const entries = state instanceof Map ? state : new Map(Object.entries(state));
    const own = this.stateDict();
    const ignored = new Set(
      this.namedModules().flatMap(([prefix, m]) => m.ignoredStateKeys().map((k) => (prefix ? `${prefix}.${k}` : k))),
    );
    const missingKeys = [...own.keys()].filter((k) => !entries.has(k));
    const unexpectedKeys = [...entries.keys()].filter((k) => !own.has(k) && !ignored.has(k));
    const errors: string[] = [];
    if (strict && missingKeys.length > 0) errors.push(`Missing key(s) in state_dict: ${missingKeys.map((k) => `"${k}"`).join(', ')}.`);
    if (strict && unexpectedKeys.length > 0) errors.push(`Unexpected key(s) in state_dict: ${unexpectedKeys.map((k) => `"${k}"`).join(', ')}.`);
    for (const [key, dst] of own) {
      const src = entries.get(key);
      if (!src) continue;
      if (src.shape.length !== dst.shape.length || src.shape.some((d, i) => d !== dst.shape[i])) {
        errors.push(
          `size mismatch for ${key}: copying a param with shape ${shapeString(src.shape)} from checkpoint, the shape in current model is ${shapeString(dst.shape)}.`,
        );
      } else if (src.engine !== dst.engine) {
        errors.push(`${key}: the tensor belongs to a different engine`);
      }
    }
    if (errors.length > 0) {
      throw new Error(`Error(s) in loading state_dict for ${this.constructor.name}:\n\t${errors.join('\n\t')}`);
    }
    for (const [key, dst] of own) {
      const src = entries.get(key);
      if (src && src !== dst && src.size > 0) dst.engine.copy(src, dst, src.size * 4);
    }
    return { missingKeys, unexpectedKeys };
  }

  /** Frees every parameter (and its gradient) and buffer here and below. */
  dispose(): void {
    for (const [, m] of this.namedModules()) {
      for (const v of m.params.values()) v.dispose();
      for (const t of m.bufs.values()) t.dispose();
    }
  }
}

function addHook<H>(hooks: H[], hook: H): () => void {
  if (typeof hook !== 'function') throw new Error(`a hook must be a function, got ${typeof hook}`);
  hooks.push(hook);
  return () => {
    const i = hooks.indexOf(hook);
    if (i >= 0) hooks.splice(i, 1);
  };
}
