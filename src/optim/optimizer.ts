// What every optimiser shares: its parameters, zeroing gradients, the update kernels' specs and
// dispatch, and checkpointable state (per-parameter tensors and counters, plus hyperparameters).
import type { Variable } from '../autograd/variable.js';
import { fail } from '../ops/check.js';
import { grid1d, type Engine } from '../runtime/engine.js';
import type { BindingKind, KernelSpec } from '../runtime/kernel.js';
import { runSplit, type Split } from '../runtime/split.js';
import { shapeString, type Tensor } from '../runtime/tensor.js';
import { params, type ParamWriter } from '../runtime/uniforms.js';

const WG = 256;

export type UpdateEntry = 'sgd' | 'sgd_momentum' | 'adam' | 'fill';

const BINDINGS: Record<UpdateEntry, readonly BindingKind[]> = {
  sgd: ['uniform', 'write', 'read'],
  sgd_momentum: ['uniform', 'write', 'read', 'write'],
  adam: ['uniform', 'write', 'read', 'write', 'write'],
  fill: ['uniform', 'write'],
};

function kernel(entry: UpdateEntry): KernelSpec {
  return { name: `optim.${entry}`, shader: 'optim', entryPoint: entry, defines: { WG }, bindings: BINDINGS[entry] };
}

/** shaders/optim.wgsl's Params; each kernel reads only its own fields (the others stay 0). */
export interface UpdateParams {
  lr?: number;
  weightDecay?: number;
  momentum?: number;
  oneMinusDampening?: number;
  beta2?: number;
  oneMinusBeta1?: number;
  oneMinusBeta2?: number;
  eps?: number;
  stepSize?: number;
  biasCorrection2Sqrt?: number;
  decayFactor?: number;
  /** bit 0: nesterov, bit 1: first momentum step, bit 2: decoupled weight decay */
  flags?: number;
  fill?: number;
}

export function updateParams(u: UpdateParams): ParamWriter {
  return params()
    .f32(u.lr ?? 0, u.weightDecay ?? 0, u.momentum ?? 0, u.oneMinusDampening ?? 0)
    .f32(u.beta2 ?? 0, u.oneMinusBeta1 ?? 0, u.oneMinusBeta2 ?? 0, u.eps ?? 0, u.stepSize ?? 0, u.biasCorrection2Sqrt ?? 0, u.decayFactor ?? 0)
    .u32(u.flags ?? 0)
    .f32(u.fill ?? 0);
}

/**
 * Records one in-place update over a parameter (and its state); element count = the parameter's
 * size. Past the binding limit it runs over runs of elements (every buffer is read and written
 * element by element).
 */
export function dispatchUpdate(engine: Engine, entry: UpdateEntry, buffers: Tensor[], uniforms?: ParamWriter): void {
  const n = buffers[0]!.size;
  if (n === 0) return;
  const kinds = BINDINGS[entry].filter((b) => b !== 'uniform');
  const split: Split = {
    op: `optim.${entry}`,
    axes: [{ name: 'element', size: n }],
    operands: buffers.map((t, i) => (kinds[i] === 'write' ? { name: `binding ${i}`, inPlace: t, per: [1] } : { name: `binding ${i}`, input: t, per: [1] })),
  };
  runSplit(engine, split, (bound) => engine.dispatch(kernel(entry), bound, grid1d(bound[0]!.size, WG, engine.limits.maxComputeWorkgroupsPerDimension), uniforms));
}

/** Checkpointable optimiser state: tensors (moments, momentum buffers) and numbers (steps, hyperparameters). */
export type OptimizerState = Record<string, Tensor | number>;

/** An optimiser's state dict: its entries, tagged with the optimiser's type ('SGD', 'Adam', 'AdamW'). */
export interface OptimizerStateDict {
  readonly type: string;
  readonly state: OptimizerState;
}

export function checkNumber(op: string, what: string, v: number, ok: (v: number) => boolean): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) fail(op, `Invalid ${what}: ${v}`);
}

/**
 * The base of SGD, Adam and AdamW. `step()` records one update kernel per parameter that has a
 * gradient (parameters without one are skipped, as in PyTorch) and submits nothing: a training
 * step stays one submission until the caller reads a result or flushes.
 */
export abstract class Optimizer {
  readonly params: readonly Variable[];
  readonly engine: Engine;
  /** Per-parameter state tensors, by parameter index then state name (e.g. 'exp_avg'). */
  protected readonly tensors: Array<Map<string, Tensor>>;

  /** @param op the optimiser's type, as in its errors and its state dict's tag: 'SGD', 'Adam', 'AdamW'. */
  constructor(
    protected readonly op: string,
    params: Iterable<Variable>,
  ) {
    this.params = [...params];
    if (this.params.length === 0) fail(op, 'optimizer got an empty parameter list');
    if (new Set(this.params).size !== this.params.length) fail(op, 'some parameters appear more than once');
    this.engine = this.params[0]!.value.engine;
    for (const p of this.params) {
      if (p.value.engine !== this.engine) fail(op, 'parameters belong to different engines');
      if (!p.isLeaf) fail(op, `can't optimize a non-leaf Variable${p.name ? ` (${p.name})` : ''}`);
    }
    this.tensors = this.params.map(() => new Map());
  }

  /** The optimiser's type: the tag of its state dicts. */
  get type(): string {
    return this.op;
  }

  /** Records the update of every parameter that has a gradient. */
  abstract step(): void;

  /**
   * The parameters that have a gradient, with their indices; every gradient is checked against
   * its parameter's shape before anything is recorded, so a bad one leaves no partial step.
   */
  protected withGradients(): Array<{ i: number; param: Variable; grad: Tensor }> {
    const out: Array<{ i: number; param: Variable; grad: Tensor }> = [];
    this.params.forEach((param, i) => {
      const grad = param.grad;
      if (!grad) return;
      const shape = param.value.shape;
      if (grad.shape.length !== shape.length || grad.shape.some((d, k) => d !== shape[k])) {
        fail(this.op, `gradient of shape ${shapeString(grad.shape)} does not match parameter ${i}${param.name ? ` (${param.name})` : ''} of shape ${shapeString(shape)}`);
      }
      if (grad.isDisposed || param.value.isDisposed) fail(this.op, `parameter ${i} or its gradient was used after dispose()`);
      out.push({ i, param, grad });
    });
    return out;
  }

  /** Hyperparameters as numbers (saved with the state, restored by loadStateDict). */
  protected abstract get hyperparameters(): Record<string, number>;
  protected abstract set hyperparameters(values: Record<string, number>);

  /** Per-parameter counters (e.g. Adam's step), by parameter index and name. */
  protected abstract counters(index: number): Record<string, number>;
  protected abstract setCounters(index: number, values: Record<string, number>): void;

  /**
   * Clears the gradients. By default they are dropped (PyTorch's set_to_none=True: the next
   * backward writes fresh ones); with setToNone false they are zeroed in place on the GPU.
   */
  zeroGrad(setToNone = true): void {
    for (const p of this.params) {
      if (!p.grad) continue;
      if (setToNone) p.clearGrad();
      else dispatchUpdate(this.engine, 'fill', [p.grad], updateParams({ fill: 0 }));
    }
  }

  /**
   * The state tensor `name` of parameter i, allocated on first use: zero-filled, or left
   * uninitialised when the first update writes it before reading it.
   */
  protected state(i: number, name: string, zeroed: boolean): { tensor: Tensor; fresh: boolean } {
    const map = this.tensors[i]!;
    let t = map.get(name);
    if (t) return { tensor: t, fresh: false };
    const shape = this.params[i]!.value.shape;
    t = zeroed ? this.engine.zeros(shape) : this.engine.empty(shape, `${this.op}.${name}`);
    map.set(name, t);
    return { tensor: t, fresh: true };
  }

  /**
   * The state as PyTorch's state_dict lays it out, flattened: `state.<i>.<name>` per parameter
   * (tensors are the live buffers, not copies) and `param_groups.0.<name>` for hyperparameters,
   * tagged with the optimiser's type.
   */
  stateDict(): OptimizerStateDict {
    const out: OptimizerState = {};
    this.params.forEach((_, i) => {
      for (const [name, v] of Object.entries(this.counters(i))) out[`state.${i}.${name}`] = v;
      for (const [name, t] of this.tensors[i]!) out[`state.${i}.${name}`] = t;
    });
    for (const [name, v] of Object.entries(this.hyperparameters)) out[`param_groups.0.${name}`] = v;
    return { type: this.op, state: out };
  }

  /**
   * Restores a state dict of an optimiser of the same type (tensors are copied into this
   * optimiser's own buffers). Every key must be known and every tensor must have its parameter's
   * shape; nothing is changed when a check fails.
   */
  loadStateDict(dict: OptimizerStateDict): void {
    if (dict?.type !== this.op) fail(this.op, `expected a state dict of ${this.op}, got one of ${typeof dict?.type === 'string' ? dict.type : String(dict?.type)}`);
    const state = dict.state;
    const hyper: Record<string, number> = {};
    const counters = this.params.map((): Record<string, number> => ({}));
    const tensors = this.params.map((): Map<string, Tensor> => new Map());
    const known = this.hyperparameters;
    for (const [key, v] of Object.entries(state)) {
      const group = /^param_groups\.0\.(\w+)$/.exec(key);
      if (group) {
        if (!(group[1]! in known) || typeof v !== 'number') fail(this.op, `unexpected optimizer state entry '${key}'`);
        hyper[group[1]!] = v;
        continue;
      }
      const entry = /^state\.(\d+)\.(\w+)$/.exec(key);
      const i = entry ? Number(entry[1]) : -1;
      if (!entry || i >= this.params.length) fail(this.op, `unexpected optimizer state entry '${key}'`);
      const name = entry[2]!;
      if (typeof v === 'number') {
        if (!(name in this.counters(i))) fail(this.op, `unexpected optimizer state entry '${key}'`);
        if (!Number.isInteger(v) || v < 0) fail(this.op, `state entry '${key}' must be an integer >= 0, got ${v}`);
        counters[i]![name] = v;
      } else {
        if (!this.stateNames.includes(name)) fail(this.op, `unexpected optimizer state entry '${key}'`);
        const shape = this.params[i]!.value.shape;
        if (v.shape.length !== shape.length || v.shape.some((d, k) => d !== shape[k])) {
          fail(this.op, `state '${key}' has shape ${shapeString(v.shape)} but parameter ${i} has shape ${shapeString(shape)}`);
        }
        if (v.engine !== this.engine) fail(this.op, `state '${key}' belongs to a different engine`);
        tensors[i]!.set(name, v);
      }
    }
    for (const name of Object.keys(known)) {
      if (!(name in hyper)) fail(this.op, `missing optimizer state entry 'param_groups.0.${name}'`);
    }
    this.params.forEach((_, i) => {
      for (const name of Object.keys(this.counters(i))) {
        if (!(name in counters[i]!)) fail(this.op, `missing optimizer state entry 'state.${i}.${name}'`);
      }
      // A parameter has all of its state tensors (it was stepped) or none (it was not yet).
      const missing = this.stateNames.find((name) => !tensors[i]!.has(name));
      if (tensors[i]!.size > 0 && missing) fail(this.op, `missing optimizer state entry 'state.${i}.${missing}'`);
    });
    this.hyperparameters = hyper;
    this.params.forEach((_, i) => {
      this.setCounters(i, counters[i]!);
      const mine = this.tensors[i]!;
      for (const [name, t] of mine) {
        if (!tensors[i]!.has(name)) {
          t.dispose();
          mine.delete(name);
        }
      }
      for (const [name, src] of tensors[i]!) {
        if (src === mine.get(name)) continue;
        const dst = mine.get(name) ?? this.engine.empty(src.shape, `${this.op}.${name}`);
        if (src.size > 0) this.engine.copy(src, dst, src.size * 4);
        mine.set(name, dst);
      }
    });
  }

  /** Names of the per-parameter state tensors this optimiser keeps. */
  protected abstract get stateNames(): readonly string[];

  /** Frees the state tensors (the parameters and their gradients stay). */
  dispose(): void {
    for (const map of this.tensors) {
      for (const t of map.values()) t.dispose();
      map.clear();
    }
  }
}
