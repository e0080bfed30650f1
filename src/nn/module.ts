// The Module base: parameters, buffers and children under PyTorch's dotted names, train/eval
// mode, freezing, state dicts and explicit disposal.
import type { Tape } from '../autograd/tape.js';
import type { Variable } from '../autograd/variable.js';
import type { AnyTensor, Op } from '../ops/registry.js';
import { describeValue, shapeString, type Tensor } from '../runtime/tensor.js';

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
 * What a module keeps beyond its parameters and buffers (PyTorch's extra state, e.g. Dropout's
 * mask counter): numbers, tagged with the module's type (loading refuses another type's).
 */
export interface ModuleState {
  readonly type: string;
  readonly state: Readonly<Record<string, number>>;
}

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
    const leave = tape.enterModule(this);
    let y: Variable;
    try {
      y = this.forward(tape, x);
    } finally {
      leave?.();
    }
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

  /**
   * Parameters and buffers under their dotted names, in PyTorch's state_dict order (module by
   * module, depth first: each one's parameters, then its buffers); the tensors are the live ones,
   * not copies.
   */
  stateDict(): StateDict {
    const out: StateDict = new Map();
    for (const [prefix, m] of this.namedModules()) {
      const dotted = (n: string) => (prefix ? `${prefix}.${n}` : n);
      for (const [n, v] of m.params) out.set(dotted(n), v.value);
      for (const [n, t] of m.bufs) out.set(dotted(n), t);
    }
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

  /** This module's extra state (see ModuleState); undefined for a module that keeps none (the default). */
  extraState(): ModuleState | undefined {
    return undefined;
  }

  /** Restores what extraState returned; a module that keeps none refuses. */
  loadExtraState(state: ModuleState): void {
    throw new Error(`${this.constructor.name}: keeps no extra state, got ${describeValue(state?.type)} state`);
  }

  /** The extra state of every module here and below that keeps one, by dotted name. */
  extraStates(): Record<string, ModuleState> {
    const out: Record<string, ModuleState> = {};
    for (const [name, m] of this.namedModules()) {
      const state = m.extraState();
      if (state) out[name] = state;
    }
    return out;
  }

  /**
   * Restores extraStates() of a model of the same structure: the names must match exactly and
   * every module checks its own state before anything is changed.
   */
  loadExtraStates(states: Readonly<Record<string, ModuleState>>): void {
    const modules = new Map(this.namedModules().filter(([, m]) => m.extraState() !== undefined));
    const names = [...new Set([...modules.keys(), ...Object.keys(states)])];
    const strangers = names.filter((n) => !modules.has(n) || !(n in states));
    if (strangers.length > 0) throw new Error(`the modules with extra state differ from the model's: ${strangers.map((n) => `'${n}'`).join(', ')}`);
    const restore = [...modules].map(([name, m]) => [m, m.extraState()!, states[name]!] as const);
    try {
      for (const [m, , state] of restore) m.loadExtraState(state);
    } catch (err) {
      for (const [m, before] of restore) m.loadExtraState(before); // all or nothing
      throw err;
    }
  }

  /** Frees every parameter (and its gradient) and buffer here and below. */
  dispose(): void {
    for (const [, m] of this.namedModules()) {
      for (const v of m.params.values()) v.dispose();
      for (const t of m.bufs.values()) t.dispose();
    }
  }
}

/** One registered op applied to a module's input: the op, its operands (the input first) and its options. */
export interface OpCall {
  readonly op: Op<unknown>;
  readonly operands: ReadonlyArray<Variable | AnyTensor | undefined>;
  readonly options: Readonly<Record<string, unknown>>;
}

/**
 * A module whose forward pass is one registered op on its input (Conv2d, BatchNorm2d, ReLU,
 * MaxPool2d, ...): it declares that op (opCall) and its forward pass applies it. So Sequential
 * knows the ops its modules run and fuses them by the registry's fusion rules, as the graph
 * rewrite fuses nodes. A subclass changes what it computes through opCall; one that overrides
 * forward runs as itself (Sequential does not fuse it).
 */
export abstract class OpModule extends Module {
  /** The op this module applies to `x` (its shape is all it may read: x can be a placeholder). */
  abstract opCall(x: Variable): OpCall;

  forward(tape: Tape, x: Variable): Variable {
    const { op, operands, options } = this.opCall(x);
    return tape.apply(op, operands, options);
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
